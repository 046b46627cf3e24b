"""kubeadm's TLS bootstrap against a real apiserver and controller-manager controllers.

Bootstrap tokens authenticate (and stop when expired or deleted, the cleaner
removes expired ones), anonymous clients read cluster-info and nothing else,
the bootstrap signer signs it with the token, and a CSR filed with a token is
approved and signed into a certificate that authenticates as
`system:node:<name>` -- while a request for `system:masters` is denied and
never signed. The apiserver runs `--authorization-mode Node,RBAC
--enable-bootstrap-token-auth` with the PKI `kubelite up` makes.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import ssl
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from kubectl.main import main as kctl_main
from kubelite.api import ConfigMap, Secret
from kubelite.api import bootstraptoken as bt
from kubelite.api import clusterinfo as ci
from kubelite.api.certificates import KUBELET_CLIENT_SIGNER, CertificateSigningRequest, kubelet_client_request
from kubelite.api.errors import Forbidden, NotFound, Unauthorized
from kubelite.api.meta import ObjectMeta
from kubelite.api.timeutil import utcnow
from kubelite.bootstrap.publish import publish_cluster_info
from kubelite.client import ApiClient
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, new_key
from tests.integration.apiserver.test_http_access import call, client_ssl
from tests.integration.bootstrapplane import TOKEN, Plane, create_token, running_plane
from tests.polling import eventually

pytestmark = pytest.mark.integration

@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Plane]:
    async with running_plane(tmp_path) as plane:
        yield plane


async def whoami(client: ApiClient) -> dict[str, Any]:
    review = await client.create_review("selfsubjectreviews", {"apiVersion": "authentication.k8s.io/v1",
                                                               "kind": "SelfSubjectReview"})
    info: dict[str, Any] = review["status"]["userInfo"]
    return info


async def test_bootstrap_token_authenticates_until_expired_or_deleted(cluster: Plane) -> None:
    await create_token(cluster.admin)
    expired = "zzzzzz.0123456789abcdef"
    await create_token(cluster.admin, expired, now=utcnow() - dt.timedelta(hours=2))
    joining = cluster.token_client(TOKEN)
    late = cluster.token_client(expired)
    try:
        async def me() -> dict[str, Any] | None:
            try:
                return await whoami(joining)
            except Unauthorized:
                return None  # the Secret has not reached the apiserver's cache yet

        info = await eventually(me, "the bootstrap token to authenticate")
        assert info["username"] == "system:bootstrap:abcdef"
        assert set(info["groups"]) == {"system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token",
                                       "system:authenticated"}
        with pytest.raises(Unauthorized):
            await whoami(late)
        with pytest.raises(Forbidden):  # a joining node may not read Secrets
            await joining.list(Secret, bt.NAMESPACE)

        # the token cleaner removes the expired token's Secret
        async def cleaned() -> bool:
            try:
                await cluster.admin.get(Secret, bt.secret_name("zzzzzz"), bt.NAMESPACE)
                return False
            except NotFound:
                return True

        await eventually(cleaned, "the token cleaner to delete the expired token")
        await cluster.admin.get(Secret, bt.secret_name("abcdef"), bt.NAMESPACE)  # the valid one stays
        await cluster.admin.delete(Secret, bt.secret_name("abcdef"), bt.NAMESPACE)

        async def refused() -> bool:
            try:
                await whoami(joining)
                return False
            except Unauthorized:
                return True

        await eventually(refused, "a deleted token to stop authenticating")
    finally:
        await joining.close()
        await late.close()


async def test_anonymous_reads_cluster_info_only_and_it_is_signed(cluster: Plane) -> None:
    ca_pem = cert_path(cluster.certs, "ca").read_bytes()
    await publish_cluster_info(cluster.admin, ci.ClusterInfo(cluster.server.http.url, ca_pem,
                                                            cluster.server.endpoint))
    await cluster.admin.create(ConfigMap(metadata=ObjectMeta(name="other", namespace=ci.NAMESPACE), data={"a": "b"}))
    token = await create_token(cluster.admin)
    anonymous = client_ssl(cluster.certs)
    path = f"/api/v1/namespaces/{ci.NAMESPACE}/configmaps"

    async def signed() -> dict[str, Any] | None:
        code, body = await call(cluster.server, anonymous, f"{path}/{ci.NAME}")
        if code == 200 and f"{bt.JWS_KEY_PREFIX}abcdef" in body.get("data", {}):
            return body
        return None

    body = await eventually(signed, "cluster-info to be readable anonymously and signed")
    kubeconfig = body["data"][ci.KUBECONFIG_KEY]
    assert bt.verify_detached(body["data"][f"{bt.JWS_KEY_PREFIX}abcdef"], kubeconfig, token.token)
    assert not bt.verify_detached(body["data"][f"{bt.JWS_KEY_PREFIX}abcdef"], kubeconfig, "abcdef.ffffffffffffffff")
    parsed = ci.parse_kubeconfig(kubeconfig)
    assert parsed.ca_pem == ca_pem and parsed.server == cluster.server.http.url
    assert "users" not in kubeconfig or "token" not in kubeconfig  # no credentials
    for other in (f"{path}/other", path, "/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/default/pods"):
        code, status = await call(cluster.server, anonymous, other)
        assert code == 403 and 'User "system:anonymous"' in status["message"], other
    code, status = await call(cluster.server, anonymous, f"{path}/{ci.NAME}",
                              headers={"Authorization": "Bearer nope"})
    assert code == 401  # a bad token is never downgraded to anonymous


def csr_for(name: str, request: str) -> CertificateSigningRequest:
    return CertificateSigningRequest.from_dict({
        "metadata": {"name": name},
        "spec": {"request": request, "signerName": KUBELET_CLIENT_SIGNER,
                 "usages": ["digital signature", "client auth"], "username": "admin", "groups": ["system:masters"]}})


async def test_csr_from_bootstrap_token_is_approved_signed_and_authenticates_as_the_node(cluster: Plane) -> None:
    await create_token(cluster.admin)
    joining = cluster.token_client(TOKEN)
    key = new_key()
    try:
        async def filed() -> CertificateSigningRequest | None:
            try:
                return await joining.create(csr_for("node-9-client", kubelet_client_request("node-9", key)))
            except Unauthorized:
                return None

        created = await eventually(filed, "the bootstrap token to file a CSR")
        # who asked is the server's to say, whatever the body claimed
        assert created.spec.username == "system:bootstrap:abcdef" and "system:masters" not in created.spec.groups
        with pytest.raises(Forbidden):  # a joining node cannot approve its own request
            created.status.conditions = []
            await joining.update_approval(created)

        async def issued() -> CertificateSigningRequest | None:
            current = await joining.get(CertificateSigningRequest, "node-9-client")
            return current if current.status.certificate else None

        done = await eventually(issued, "the CSR to be approved and signed")
        assert done.condition("Approved") is not None
        cert_pem = base64.b64decode(done.status.certificate or "")
        (cluster.tmp / "node.crt").write_bytes(cert_pem)
        (cluster.tmp / "node.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        context = ssl.create_default_context(cafile=str(cert_path(cluster.certs, "ca")))
        context.load_cert_chain(str(cluster.tmp / "node.crt"), str(cluster.tmp / "node.key"))
        # the HTTPS API names who it took the client for: the node identity (nodes may read nodes)
        code, _ = await call(cluster.server, context, "/api/v1/nodes")
        assert code == 200
        code, status = await call(cluster.server, context, "/api/v1/namespaces/default/secrets")
        assert code == 403 and 'User "system:node:node-9"' in status["message"]
    finally:
        await joining.close()


async def test_bootstrap_token_cannot_obtain_a_masters_certificate(cluster: Plane) -> None:
    await create_token(cluster.admin)
    joining = cluster.token_client(TOKEN)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "admin")])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(new_key(), hashes.SHA256())
    text = base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode()
    try:
        async def filed() -> CertificateSigningRequest | None:
            try:
                return await joining.create(csr_for("evil", text))
            except Unauthorized:
                return None

        await eventually(filed, "the bootstrap token to file a CSR")

        async def denied() -> CertificateSigningRequest | None:
            current = await cluster.admin.get(CertificateSigningRequest, "evil")
            return current if current.condition("Denied") is not None else None

        done = await eventually(denied, "the masters CSR to be denied")
        assert not done.status.certificate and "system:node:" in (done.condition("Denied").message or "")  # type: ignore[union-attr]
        # even if an administrator approved it, the signer would not sign it: the Denied condition stays
        done.status.conditions = []
        with pytest.raises(Exception, match="may not remove"):
            await cluster.admin.update_approval(done)
    finally:
        await joining.close()


async def test_approval_over_https_as_kubectl_certificate_approve_does(cluster: Plane) -> None:
    """GET the CSR, append an Approved condition, PUT it to `/approval`; status and spec stay the server's."""
    admin = client_ssl(cluster.certs, "admin")
    base = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    body = csr_for("by-hand", kubelet_client_request("x", new_key())).to_dict()
    body["spec"]["signerName"] = "example.com/by-hand"  # no controller decides these
    code, created = await call(cluster.server, admin, base, "POST", body=body)
    assert code == 201, created
    assert created["spec"]["username"] == "kubernetes-admin"
    created["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "KubectlApprove",
                                         "message": "approved by hand"}],
                         "certificate": "bm90IG1pbmU="}  # the approval subresource ignores the certificate
    created["spec"]["usages"] = ["server auth"]  # and the spec
    code, approved = await call(cluster.server, admin, f"{base}/by-hand/approval", "PUT", body=created)
    assert code == 200, approved
    assert [c["type"] for c in approved["status"]["conditions"]] == ["Approved"]
    assert "certificate" not in approved["status"] and approved["spec"]["usages"] == ["digital signature",
                                                                                     "client auth"]
    # a decision stays: Approved may not be dropped
    approved["status"]["conditions"] = []
    code, status = await call(cluster.server, admin, f"{base}/by-hand/approval", "PUT", body=approved)
    assert code == 422 and "may not remove" in status["message"]
    code, _ = await call(cluster.server, admin, "/apis/certificates.k8s.io/v1/namespaces/default/"
                         "certificatesigningrequests/by-hand/approval", "PUT", body=approved)
    assert code == 404  # cluster-scoped


def kctl(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = kctl_main(list(args))
    return code, out.getvalue(), err.getvalue()


async def test_kctl_certificate_approve_and_deny(cluster: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    config = cluster.tmp / "kctl-config"
    config.write_text(pki.client_config(cluster.server.endpoint, pki.admin_tls(cluster.certs)))
    monkeypatch.setenv("KUBELITE_CONFIG", str(config))
    for name in ("one", "two"):
        body = csr_for(name, kubelet_client_request("x", new_key()))
        body.spec.signer_name = "example.com/by-hand"
        await cluster.admin.create(body)
    code, out, err = await asyncio.to_thread(kctl, "certificate", "approve", "one")
    assert (code, out) == (0, "certificatesigningrequest.certificates.k8s.io/one approved\n"), err
    code, out, err = await asyncio.to_thread(kctl, "certificate", "deny", "two")
    assert code == 0 and "two denied" in out, err
    code, _, err = await asyncio.to_thread(kctl, "certificate", "approve", "two")
    assert code == 1 and "is already Denied" in err
    one = await cluster.admin.get(CertificateSigningRequest, "one")
    assert [(c.type, c.reason) for c in one.status.conditions] == [("Approved", "KubectlApprove")]
    code, out, _ = await asyncio.to_thread(kctl, "get", "csr")
    assert "Approved" in out and "Denied" in out and "kubernetes-admin" in out

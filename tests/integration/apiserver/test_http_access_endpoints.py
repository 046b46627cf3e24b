"""The access endpoints of the HTTPS API with real kubectl: `auth whoami`, `auth can-i [--list]`,
`create token` -- and the Node authorizer seeing the name of what a kubelet creates over HTTP.

Why real kubectl: it sends SelfSubjectReview / SelfSubjectAccessReview / SelfSubjectRulesReview
and TokenRequest exactly as against Kubernetes and prints their answers, so a field or status code
kubelite gets wrong shows up as kubectl failing or printing something else.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from apiserver.access import AccessOptions
from apiserver.http import server_ssl_context
from apiserver.server import ApiServer
from apiserver.serviceaccount.config import ServiceAccountConfig
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, key_path
from tests.integration.apiserver.test_http_access import call, client_ssl
from tests.integration.kvstore.kvproc import KVProcess

pytestmark = pytest.mark.integration

KUBECTL = shutil.which("kubectl")
TOKENS = 'alice-token,alice,u-alice,"devs"\n'


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[ApiServer, Path]]:
    certs = tmp_path / "pki"
    pki.ensure(certs, pki.cluster_specs([], [("node-1", "127.0.0.11"), ("node-2", "127.0.0.12")]))
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(TOKENS)
    kv = KVProcess(tmp_path / "kv", tmp_path / "kv.log").start()
    context = server_ssl_context(str(cert_path(certs, "apiserver")), str(key_path(certs, "apiserver")),
                                 str(cert_path(certs, "ca")))
    server = ApiServer([kv.endpoint], "127.0.0.1:0", http_listen="127.0.0.1:0", http_ssl=context,
                       access=AccessOptions.parse("Node,RBAC", str(tokens)),
                       service_accounts=ServiceAccountConfig(signing_key=ec.generate_private_key(ec.SECP256R1())))
    try:
        await server.start()
        await asyncio.wait_for(server.bootstrapped.wait(), 30)  # the default ClusterRoles (view) exist
        yield server, certs
    finally:
        await server.stop()
        kv.terminate()


class Kubectl:
    """Real kubectl with a fresh kubeconfig and cache: the cluster CA, and a certificate or a token."""

    def __init__(self, url: str, certs: Path, tmp: Path, *, cert: str = "", token: str = "") -> None:
        user: dict[str, str] = {"token": token} if token else {}
        if cert:
            user = {"client-certificate": str(cert_path(certs, cert)), "client-key": str(key_path(certs, cert))}
        tmp.mkdir(parents=True, exist_ok=True)
        config = tmp / "kubeconfig"
        config.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "kl",
            "clusters": [{"name": "kl", "cluster": {"server": url,
                                                     "certificate-authority": str(cert_path(certs, "ca"))}}],
            "contexts": [{"name": "kl", "context": {"cluster": "kl", "user": "u", "namespace": "default"}}],
            "users": [{"name": "u", "user": user}]}))
        (tmp / "cache").mkdir(exist_ok=True)
        self.env = {**os.environ, "KUBECONFIG": str(config), "KUBECACHEDIR": str(tmp / "cache"), "HOME": str(tmp)}

    async def run(self, *args: str, stdin: str = "") -> tuple[int, str]:
        assert KUBECTL is not None
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env)
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
        return proc.returncode or 0, out.decode() + err.decode()

    async def ok(self, *args: str, stdin: str = "") -> str:
        code, out = await self.run(*args, stdin=stdin)
        assert code == 0, f"kubectl {' '.join(args)}: {out}"
        return out


ALICE_VIEW = """
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-view, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: alice}]
"""


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (the Debian package) is not installed")
async def test_kubectl_auth_whoami_can_i_and_create_token(api: tuple[ApiServer, Path], tmp_path: Path) -> None:
    server, certs = api
    url = server.http.url
    admin = Kubectl(url, certs, tmp_path / "admin", cert=pki.ADMIN)
    alice = Kubectl(url, certs, tmp_path / "alice", token="alice-token")

    who = json.loads(await admin.ok("auth", "whoami", "-o", "json"))
    assert who["kind"] == "SelfSubjectReview" and who["status"]["userInfo"]["username"] == "kubernetes-admin"
    assert "system:masters" in who["status"]["userInfo"]["groups"]
    table = await alice.ok("auth", "whoami")
    assert "alice" in table and "devs" in table and "system:authenticated" in table, table

    # can-i: "no" (exit 1) until a RoleBinding grants view, then "yes"; never more than view.
    assert await alice.run("auth", "can-i", "list", "pods") == (1, "no\n")
    await admin.ok("apply", "-f", "-", stdin=ALICE_VIEW)
    assert await alice.run("auth", "can-i", "list", "pods") == (0, "yes\n")
    assert (await alice.run("auth", "can-i", "create", "pods"))[0] == 1
    assert (await alice.run("auth", "can-i", "list", "pods", "-n", "kube-system"))[0] == 1
    assert await admin.run("auth", "can-i", "delete", "deployments.apps") == (0, "yes\n")
    rules = await alice.ok("auth", "can-i", "--list")
    pods_row = next((line for line in rules.splitlines() if line.split()[:1] == ["pods"]), "")
    assert "[get list watch]" in pods_row, rules
    assert "selfsubjectaccessreviews.authorization.k8s.io" in rules, rules  # basic-user, cluster-wide

    # create token: a signed ServiceAccount token that authenticates as the account.
    await admin.ok("apply", "-f", "-", stdin="apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot}\n")
    token = (await admin.ok("create", "token", "robot", "--duration", "1h")).strip()
    assert token.count(".") == 2, token
    robot = Kubectl(url, certs, tmp_path / "robot", token=token)
    who = json.loads(await robot.ok("auth", "whoami", "-o", "json"))
    assert who["status"]["userInfo"]["username"] == "system:serviceaccount:default:robot"
    assert (await robot.run("auth", "can-i", "list", "pods"))[0] == 1
    code, out = await alice.run("create", "token", "robot")  # view does not include serviceaccounts/token
    assert code != 0 and 'cannot create resource "serviceaccounts/token"' in out, out
    code, out = await admin.run("create", "token", "nobody")
    assert code != 0 and ("NotFound" in out or "not found" in out), out


async def test_discovery_lists_the_access_endpoints(api: tuple[ApiServer, Path]) -> None:
    server, certs = api
    admin = client_ssl(certs, pki.ADMIN)
    _, core = await call(server, admin, "/api/v1")
    token = next(r for r in core["resources"] if r["name"] == "serviceaccounts/token")
    assert (token["group"], token["kind"], token["verbs"]) == ("authentication.k8s.io", "TokenRequest", ["create"])
    _, authn = await call(server, admin, "/apis/authentication.k8s.io/v1")
    assert [r["name"] for r in authn["resources"]] == ["selfsubjectreviews"]
    _, authz = await call(server, admin, "/apis/authorization.k8s.io/v1")
    assert {r["name"] for r in authz["resources"]} == {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}
    _, groups = await call(server, admin, "/apis")
    names = {g["name"] for g in groups["groups"]}
    assert {"authentication.k8s.io", "authorization.k8s.io"} <= names
    # Only create: any other verb is 405, and a review is never stored.
    code, status = await call(server, admin, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert code == 405, status


def node_object(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


def lease(name: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"}, "spec": {"holderIdentity": name}}


async def test_node_authorizer_sees_the_name_a_kubelet_creates_over_http(api: tuple[ApiServer, Path]) -> None:
    server, certs = api
    node1 = client_ssl(certs, pki.kubelet_client("node-1"))
    code, body = await call(server, node1, "/api/v1/nodes", "POST", body=node_object("node-1"))
    assert code == 201, body
    code, body = await call(server, node1, "/api/v1/nodes", "POST", body=node_object("node-2"))
    assert code == 403 and "node-2" in body["message"], body
    leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    admin = client_ssl(certs, pki.ADMIN)
    assert (await call(server, admin, "/api/v1/namespaces", "POST",
                       body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-node-lease"}}))[0] \
        in (201, 409)
    code, body = await call(server, node1, leases, "POST", body=lease("node-1"))
    assert code == 201, body
    code, body = await call(server, node1, leases, "POST", body=lease("node-2"))
    assert code == 403, body

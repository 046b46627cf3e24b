"""kubeadm's token discovery: learn the cluster CA from cluster-info and trust it only if it checks out.

Why two checks (kubeadm's design): the first contact cannot verify the
server (the node has no CA yet), so cluster-info is fetched without
verification and then judged on its content. The JWS proves the kubeconfig
was signed by someone holding the bootstrap token (this cluster, since only
it stores that token); the pinned hash (`sha256:` + hex SHA-256 of the CA's
DER SubjectPublicKeyInfo, kubeadm's `--discovery-token-ca-cert-hash`) proves
the CA in it is the one the operator was told about. Then cluster-info is
fetched again over TLS verified with that CA, so the server itself is
proven to hold a certificate of that CA.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kubelite.api import bootstraptoken as bt
from kubelite.api import clusterinfo as ci
from kubelite.api.errors import ApiError, NotFound
from kubelite.client.https import HttpsClient

CLUSTER_INFO_PATH = f"/api/v1/namespaces/{ci.NAMESPACE}/configmaps/{ci.NAME}"
HASH_PREFIX = "sha256:"


class DiscoveryError(RuntimeError):
    """Discovery refused the cluster; the message says why and what to do."""


def ca_cert_hash(ca_pem: bytes) -> str:
    """`sha256:<hex>` over the DER SubjectPublicKeyInfo of the (first) certificate in `ca_pem`."""
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return HASH_PREFIX + hashlib.sha256(spki).hexdigest()


def parse_pins(pins: Sequence[str]) -> set[str]:
    out = set()
    for pin in pins:
        value = pin.strip().lower()
        digest = value.removeprefix(HASH_PREFIX)
        if not value.startswith(HASH_PREFIX) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DiscoveryError(f"--discovery-token-ca-cert-hash {pin!r}: expected sha256:<64 hex digits>")
        out.add(value)
    return out


def verify(data: dict[str, str], token: str, pins: set[str]) -> ci.ClusterInfo:
    """The cluster a cluster-info ConfigMap's `data` describes, if its signature and CA check out."""
    token_id, _ = bt.parse_token(token)
    kubeconfig = data.get(ci.KUBECONFIG_KEY)
    if not kubeconfig:
        raise DiscoveryError(f"the {ci.NAMESPACE}/{ci.NAME} ConfigMap has no {ci.KUBECONFIG_KEY!r}")
    signature = data.get(bt.JWS_KEY_PREFIX + token_id)
    if signature is None:
        raise DiscoveryError(f"token id {token_id!r} is invalid for this cluster or it has expired: cluster-info "
                             "carries no signature for it. Use `kubelite token create` on the control-plane "
                             "machine to create a new valid token")
    if not bt.verify_detached(signature, kubeconfig, token):
        raise DiscoveryError(f"failed to verify the JWS signature of cluster-info with token {token_id!r}: the "
                             "token's secret is wrong or cluster-info was tampered with")
    try:
        info = ci.parse_kubeconfig(kubeconfig)
        found = ca_cert_hash(info.ca_pem)
    except (ci.ClusterInfoError, ValueError) as exc:
        raise DiscoveryError(f"cluster-info is not usable: {exc}") from None
    if found not in pins:
        raise DiscoveryError(f"cluster CA found in cluster-info is invalid: its public key hash {found} is not "
                             f"one of the pinned hashes ({', '.join(sorted(pins))})")
    return info


async def discover(server: str, token: str, pins: Sequence[str]) -> ci.ClusterInfo:
    """Fetch, verify and re-fetch (with the verified CA) cluster-info from `server` ("https://ADDR:PORT")."""
    bt.parse_token(token)
    pinned = parse_pins(pins)
    if not pinned:
        raise DiscoveryError("give --discovery-token-ca-cert-hash (printed by `kubelite init`); joining "
                             "without pinning the CA is not supported")
    try:
        insecure = await HttpsClient(server, None).get(CLUSTER_INFO_PATH)
    except NotFound:
        raise DiscoveryError(f"{server} has no {ci.NAMESPACE}/{ci.NAME} ConfigMap (is it a kubelite control "
                             "plane started with `kubelite init`?)") from None
    except ApiError as exc:
        raise DiscoveryError(f"cannot read cluster-info from {server}: {exc}") from None
    info = verify(dict(insecure.get("data") or {}), token, pinned)
    try:
        verified = await HttpsClient(server, info.ca_pem).get(CLUSTER_INFO_PATH)
    except ApiError as exc:
        raise DiscoveryError(f"{server} does not serve a certificate of the discovered CA: {exc}") from None
    if (verified.get("data") or {}).get(ci.KUBECONFIG_KEY) != (insecure.get("data") or {}).get(ci.KUBECONFIG_KEY):
        raise DiscoveryError("cluster-info changed between the unverified and the verified read; try again")
    return info

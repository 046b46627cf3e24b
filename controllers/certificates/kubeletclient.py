"""What kubelet certificate requests must look like (signers `kube-apiserver-client-kubelet`, `kubelet-serving`).

Why one check shared by approver and signer: the approver must not approve,
and the signer must not sign, anything but `CN=system:node:<name>,
O=system:nodes` -- for client auth with no alternative names, or for server
auth naming only the node and IP addresses -- otherwise a joining node's
token could buy a `system:masters` certificate. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubelite.api.certificates import (
    KUBELET_CLIENT_USAGES,
    KUBELET_SERVING_USAGES,
    NODE_PREFIX,
    NODES_GROUP,
    CertificateSigningRequest,
    alternative_names,
    decode_request,
    subject_of,
)


@dataclass(frozen=True)
class KubeletRequest:
    node: str = ""
    problem: str = ""
    dns_names: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)


def _subject(csr: CertificateSigningRequest) -> tuple[KubeletRequest, list[str], list[str], bool]:
    try:
        request = decode_request(csr.spec.request)
    except ValueError as exc:
        return KubeletRequest(problem=str(exc)), [], [], False
    common_name, orgs = subject_of(request)
    if not common_name.startswith(NODE_PREFIX) or len(common_name) == len(NODE_PREFIX):
        return KubeletRequest(problem=f"subject common name {common_name!r} does not start with "
                                      f"{NODE_PREFIX!r}"), [], [], False
    if orgs != [NODES_GROUP]:
        return KubeletRequest(problem=f"subject organization must be exactly [{NODES_GROUP!r}], got {orgs}"), \
            [], [], False
    dns, ips, other = alternative_names(request)
    return KubeletRequest(node=common_name[len(NODE_PREFIX):]), dns, ips, other


def _usages(csr: CertificateSigningRequest, required: str, allowed: frozenset[str]) -> str:
    usages = set(csr.spec.usages)
    if required not in usages or not usages <= allowed:
        return f"usages must include {required!r} and be within {sorted(allowed)}, got {sorted(usages)}"
    return ""


def kubelet_client_problem(csr: CertificateSigningRequest) -> tuple[str, str]:
    """(node name, "") for a well-formed kubelet client request, else ("", why not)."""
    found, dns, ips, other = _subject(csr)
    if found.problem:
        return "", found.problem
    if dns or ips or other:
        return "", "a kubelet client certificate may not carry subject alternative names"
    problem = _usages(csr, "client auth", KUBELET_CLIENT_USAGES)
    return ("", problem) if problem else (found.node, "")


def kubelet_serving_request(csr: CertificateSigningRequest) -> KubeletRequest:
    """The node and names of a well-formed kubelet serving request (or the problem): DNS names only the
    node's own name, at least one IP address, no other kinds of names."""
    found, dns, ips, other = _subject(csr)
    if found.problem:
        return found
    if other:
        return KubeletRequest(problem="a kubelet serving certificate may name only DNS names and IP addresses")
    if not ips or any(d != found.node for d in dns):
        return KubeletRequest(problem=f"a kubelet serving certificate must name at least one IP address and no "
                                      f"DNS name but {found.node!r}, got {dns + ips}")
    problem = _usages(csr, "server auth", KUBELET_SERVING_USAGES)
    return KubeletRequest(problem=problem) if problem else KubeletRequest(found.node, "", dns, ips)

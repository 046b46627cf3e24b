"""csrapproving's decision for one CertificateSigningRequest (pure).

Kubernetes' rules for kubelet client certificates (signer
`kubernetes.io/kube-apiserver-client-kubelet`), as kubeadm sets them up:
* a node's first certificate: the requester is a bootstrap token
  (`system:bootstrappers`) and the request is for `system:node:<name>` in
  `system:nodes` -> approve (kubeadm:node-autoapprove-bootstrap);
* renewal: the requester is that very node (`system:node:<name>` in
  `system:nodes`) -> approve (kubeadm:node-autoapprove-certificate-rotation);
* a request of that signer that is not a kubelet client certificate at all
  (another subject, more usages, alternative names) -> deny, saying why: no
  signer would issue it, and a clear Denied beats a request pending forever;
* a kubelet serving certificate (signer `kubernetes.io/kubelet-serving`,
  which Kubernetes leaves to an administrator or an add-on approver): approve
  when the node itself asks, for its own name and only IP addresses its
  registered Node reports -- so no node can get a certificate the apiserver
  would accept for another node's address; no decision while the Node is not
  registered yet or does not report those addresses (a change of the Node
  re-triggers it);
* anything else (another signer, someone else asking) -> no decision; an
  administrator approves or denies it by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controllers.certificates.kubeletclient import kubelet_client_problem, kubelet_serving_request
from kubelite.api import bootstraptoken as bt
from kubelite.api.certificates import (
    APPROVED,
    DENIED,
    KUBELET_CLIENT_SIGNER,
    KUBELET_SERVING_SIGNER,
    NODE_PREFIX,
    NODES_GROUP,
    CertificateSigningRequest,
)


@dataclass(frozen=True)
class Decision:
    type: str  # Approved or Denied
    reason: str
    message: str


NodeAddresses = Callable[[str], set[str] | None]
"""The addresses a registered Node reports (None: no such Node)."""


def _no_nodes(_name: str) -> set[str] | None:
    return None


def decide(csr: CertificateSigningRequest, node_addresses: NodeAddresses = _no_nodes) -> Decision | None:
    if csr.spec.signer_name not in (KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER) or csr.finished:
        return None
    if csr.condition(APPROVED) is not None or csr.condition(DENIED) is not None:
        return None
    if csr.spec.signer_name == KUBELET_SERVING_SIGNER:
        return _serving(csr, node_addresses)
    node, problem = kubelet_client_problem(csr)
    if problem:
        return Decision(DENIED, "InvalidKubeletClientRequest", f"not a kubelet client certificate request: {problem}")
    requester, groups = csr.spec.username or "", set(csr.spec.groups)
    if bt.GROUP in groups:
        return Decision(APPROVED, "AutoApproved", f"Auto approving kubelet client certificate for node {node!r} "
                        f"requested by bootstrap token user {requester!r}")
    if requester == NODE_PREFIX + node and NODES_GROUP in groups:
        return Decision(APPROVED, "AutoApproved", f"Auto approving self kubelet client certificate renewal "
                        f"of node {node!r}")
    return None


def _serving(csr: CertificateSigningRequest, node_addresses: NodeAddresses) -> Decision | None:
    found = kubelet_serving_request(csr)
    if found.problem:
        return Decision(DENIED, "InvalidKubeletServingRequest", f"not a kubelet serving certificate request: "
                        f"{found.problem}")
    if csr.spec.username != NODE_PREFIX + found.node or NODES_GROUP not in csr.spec.groups:
        return None  # only the node itself gets its serving certificate automatically
    addresses = node_addresses(found.node)
    if addresses is None:
        return None
    if not set(found.ips) <= addresses:
        return None  # addresses the Node does not (yet) report: re-decided when the Node changes
    return Decision(APPROVED, "AutoApproved", f"Auto approving kubelet serving certificate of node {found.node!r} "
                    f"for {', '.join([*found.dns_names, *found.ips])}")

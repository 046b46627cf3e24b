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
* anything else (another signer, someone else asking) -> no decision; an
  administrator approves or denies it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from controllers.certificates.kubeletclient import kubelet_client_problem
from kubelite.api import bootstraptoken as bt
from kubelite.api.certificates import (
    APPROVED,
    DENIED,
    KUBELET_CLIENT_SIGNER,
    NODE_PREFIX,
    NODES_GROUP,
    CertificateSigningRequest,
)


@dataclass(frozen=True)
class Decision:
    type: str  # Approved or Denied
    reason: str
    message: str


def decide(csr: CertificateSigningRequest) -> Decision | None:
    if csr.spec.signer_name != KUBELET_CLIENT_SIGNER or csr.finished:
        return None
    if csr.condition(APPROVED) is not None or csr.condition(DENIED) is not None:
        return None
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

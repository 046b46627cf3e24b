"""csrapproving: auto-approve kubelet certificates -- client ones for joining and renewing nodes, serving
ones for a node's own registered addresses.

The decision is `approveplan.decide`; this only writes it through the
`approval` subresource (a compare-and-swap on the cached version: a Conflict
requeues and decides again on fresher data).
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.certificates.approveplan import decide
from kubelite.api import Node
from kubelite.api.certificates import (
    KUBELET_SERVING_SIGNER,
    CertificateSigningRequest,
    CertificateSigningRequestCondition,
)
from kubelite.api.errors import NotFound
from kubelite.api.timeutil import format_time
from kubelite.client import Informer

log = logging.getLogger(__name__)


class CSRApprovingController(Controller):
    name = "csrapproving"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.csrs: Informer[CertificateSigningRequest] = ctx.factory.informer(CertificateSigningRequest)
        self.csrs.add_handlers(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.nodes: Informer[Node] = ctx.factory.informer(Node)
        self.nodes.add_handlers(on_add=self._node, on_update=lambda _old, new: self._node(new))

    def _node(self, _node: Node) -> None:
        """A node (re)registered: its pending serving requests may be decidable now."""
        for csr in self.csrs.store.list():
            if csr.spec.signer_name == KUBELET_SERVING_SIGNER and not csr.finished:
                self.enqueue(csr)

    def node_addresses(self, name: str) -> set[str] | None:
        node = self.nodes.store.get(name)
        if node is None:
            return None
        return {a.address for a in node.status.addresses if a.type in ("InternalIP", "ExternalIP")}

    async def reconcile(self, key: str) -> None:
        csr = self.csrs.store.get(key)
        if csr is None:
            return
        decision = decide(csr, self.node_addresses)
        if decision is None:
            return
        updated = csr.copy_deep()
        stamp = format_time(self.clock())
        updated.status.conditions.append(CertificateSigningRequestCondition(
            type=decision.type, status="True", reason=decision.reason, message=decision.message,
            last_update_time=stamp, last_transition_time=stamp))
        try:
            await self.client.update_approval(updated)
        except NotFound:
            return
        log.info("certificate signing request decided", extra={"csr": key, "decision": decision.type,
                                                               "requester": csr.spec.username or ""})

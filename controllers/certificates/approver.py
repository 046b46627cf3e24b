"""csrapproving: auto-approve kubelet client certificates for joining and renewing nodes.

The decision is `approveplan.decide`; this only writes it through the
`approval` subresource (a compare-and-swap on the cached version: a Conflict
requeues and decides again on fresher data).
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.certificates.approveplan import decide
from kubelite.api.certificates import CertificateSigningRequest, CertificateSigningRequestCondition
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

    async def reconcile(self, key: str) -> None:
        csr = self.csrs.store.get(key)
        if csr is None:
            return
        decision = decide(csr)
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

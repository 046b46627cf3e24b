"""csrcleaner: delete CertificateSigningRequests that have served their purpose (see `cleanplan`).

Why: every node files a request when it joins and at each renewal (client
and serving certificate); without cleanup they pile up forever. Each request
is re-checked at the time `cleanplan.expiry` names (a delayed requeue), so no
periodic scan is needed; the delete is preconditioned on the uid seen.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.certificates.cleanplan import expiry
from kubelite.api.certificates import CertificateSigningRequest
from kubelite.api.errors import Conflict, NotFound
from kubelite.client import Informer

log = logging.getLogger(__name__)


class CSRCleaner(Controller):
    name = "csrcleaner"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.csrs: Informer[CertificateSigningRequest] = ctx.factory.informer(CertificateSigningRequest)
        self.csrs.add_handlers(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))

    async def reconcile(self, key: str) -> None:
        csr = self.csrs.store.get(key)
        if csr is None or csr.metadata.deletion_timestamp is not None:
            return
        when = expiry(csr)
        if when is None:
            return
        now = self.clock()
        if now < when:
            self.queue.add_after(key, (when - now).total_seconds() + 0.01)
            return
        try:
            await self.client.delete(CertificateSigningRequest, csr.metadata.name or "", "",
                                     precondition_uid=csr.metadata.uid)
        except (NotFound, Conflict):
            return
        log.info("deleted finished certificate signing request", extra={"csr": key})

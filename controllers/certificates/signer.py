"""csrsigning: issue approved kubelet client certificates with the cluster CA.

Runs only when the controller-manager has the CA's certificate and key
(`--cluster-signing-cert-file` / `--cluster-signing-key-file`), like
Kubernetes' signer. The certificate (or a Failed condition saying why the
request cannot be signed) is written through the `status` subresource.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.certificates.signplan import SigningCA, sign, wants_signing
from kubelite.api.certificates import FAILED, CertificateSigningRequest, CertificateSigningRequestCondition
from kubelite.api.errors import NotFound
from kubelite.api.timeutil import format_time
from kubelite.client import Informer

log = logging.getLogger(__name__)


class CSRSigningController(Controller):
    name = "csrsigning"

    def __init__(self, ctx: ControllerContext, ca: SigningCA) -> None:
        super().__init__(ctx)
        self.ca = ca
        self.csrs: Informer[CertificateSigningRequest] = ctx.factory.informer(CertificateSigningRequest)
        self.csrs.add_handlers(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))

    async def reconcile(self, key: str) -> None:
        csr = self.csrs.store.get(key)
        if csr is None or not wants_signing(csr):
            return
        now = self.clock()
        outcome = sign(csr, self.ca, now)
        updated = csr.copy_deep()
        if outcome.certificate:
            updated.status.certificate = outcome.certificate
        else:
            stamp = format_time(now)
            updated.status.conditions.append(CertificateSigningRequestCondition(
                type=FAILED, status="True", reason="SignerValidationFailure", message=outcome.failure,
                last_update_time=stamp, last_transition_time=stamp))
        try:
            await self.client.update_status(updated)
        except NotFound:
            return
        log.info("certificate signing request " + ("signed" if outcome.certificate else "failed"),
                 extra={"csr": key, "failure": outcome.failure})

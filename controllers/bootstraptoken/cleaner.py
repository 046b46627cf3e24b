"""tokencleaner: delete bootstrap-token Secrets once they expire (Kubernetes' controller of that name).

Why a controller when the authenticator already refuses expired tokens: an
expired token Secret is clutter that `kubelite token list` would show
forever, and its signature would stay in cluster-info. Each Secret is checked
when it appears or changes and re-checked at its expiry (a delayed requeue),
so no periodic scan is needed. The delete is preconditioned on the uid seen,
so a token re-created under the same name meanwhile is not removed.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from kubelite.api import Secret
from kubelite.api import bootstraptoken as bt
from kubelite.api.errors import Conflict, NotFound
from kubelite.client import Informer

log = logging.getLogger(__name__)


class TokenCleaner(Controller):
    name = "tokencleaner"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.secrets: Informer[Secret] = ctx.factory.informer(Secret)
        self.secrets.add_handlers(on_add=self._secret, on_update=lambda _old, new: self._secret(new))

    def _secret(self, secret: Secret) -> None:
        if secret.metadata.namespace == bt.NAMESPACE and secret.type == bt.SECRET_TYPE:
            self.enqueue(secret)

    async def reconcile(self, key: str) -> None:
        secret = self.secrets.store.get(key)
        if secret is None or secret.metadata.deletion_timestamp is not None:
            return
        token = bt.from_secret(secret)
        if token is None or token.expiration is None:
            return
        now = self.clock()
        if not token.expired(now):
            self.queue.add_after(key, (token.expiration - now).total_seconds() + 0.01)
            return
        try:
            await self.client.delete(Secret, secret.metadata.name or "", bt.NAMESPACE,
                                     precondition_uid=secret.metadata.uid)
        except (NotFound, Conflict):
            return
        log.info("deleted expired bootstrap token", extra={"token_id": token.id, "secret": key})

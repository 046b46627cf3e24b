"""bootstrapsigner: sign ConfigMap `kube-public/cluster-info` with every bootstrap token meant for signing.

Why (kubeadm's discovery): a joining node knows only a token and the CA's
hash. It reads cluster-info anonymously and trusts its kubeconfig only if the
`jws-kubeconfig-<token-id>` signature checks out with its token -- which
proves the ConfigMap came from whoever holds the token's Secret, i.e. this
cluster. Any change to the ConfigMap or to a token Secret re-plans the one
key; the write is a compare-and-swap on the cached version.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.bootstraptoken.signerplan import signed_data
from kubelite.api import ConfigMap, Secret, clusterinfo
from kubelite.api import bootstraptoken as bt
from kubelite.api.errors import Conflict, NotFound
from kubelite.client import Informer

log = logging.getLogger(__name__)

KEY = f"{clusterinfo.NAMESPACE}/{clusterinfo.NAME}"


class BootstrapSigner(Controller):
    name = "bootstrapsigner"
    single_worker = True

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.secrets: Informer[Secret] = ctx.factory.informer(Secret)
        self.config_maps: Informer[ConfigMap] = ctx.factory.informer(ConfigMap)
        self.secrets.add_handlers(on_add=self._secret, on_update=lambda _old, new: self._secret(new),
                                  on_delete=self._secret)
        self.config_maps.add_handlers(on_add=self._config_map, on_update=lambda _old, new: self._config_map(new))

    def _secret(self, secret: Secret) -> None:
        if secret.metadata.namespace == bt.NAMESPACE and secret.type == bt.SECRET_TYPE:
            self.enqueue_key(KEY)

    def _config_map(self, cm: ConfigMap) -> None:
        if cm.metadata.namespace == clusterinfo.NAMESPACE and cm.metadata.name == clusterinfo.NAME:
            self.enqueue_key(KEY)

    def tokens(self) -> list[bt.BootstrapToken]:
        out = []
        for secret in self.secrets.store.list():
            if secret.metadata.namespace != bt.NAMESPACE:
                continue
            token = bt.from_secret(secret)
            if token is not None:
                out.append(token)
        return out

    async def reconcile(self, key: str) -> None:
        cm = self.config_maps.store.get(KEY)
        if cm is None:
            return
        now = self.clock()
        tokens = self.tokens()
        desired = signed_data(cm.data, tokens, now)
        later = [t.expiration for t in tokens if t.expiration is not None and not t.expired(now)]
        if later:  # drop a signature when its token expires, even before the cleaner deletes it
            self.queue.add_after(KEY, (min(later) - now).total_seconds() + 0.01)
        if desired == cm.data:
            return
        updated = cm.copy_deep()
        updated.data = desired
        try:
            await self.client.update(updated)
        except (NotFound, Conflict):
            return  # the cache delivers the newer version, which enqueues again
        log.info("signed cluster-info", extra={"tokens": sorted(k for k in desired if k.startswith(bt.JWS_KEY_PREFIX))})

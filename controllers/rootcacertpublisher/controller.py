"""root-ca-cert-publisher: the cluster CA as ConfigMap `kube-root-ca.crt` (key `ca.crt`) in every namespace.

Why (Kubernetes' controller of the same name): a pod verifies the apiserver
with the CA certificate; the kubelet projects it from this ConfigMap into
`/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`. Publishing it in every
namespace lets a pod read it with no access beyond its own namespace. The
controller-manager runs this only when given `--root-ca-file`.

Keys are namespace names: a namespace added, or the ConfigMap changed or
deleted, enqueues its namespace; the reconcile creates or rewrites the ConfigMap
when its `ca.crt` differs from the file.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from kubelite.api import ConfigMap, Namespace, ObjectMeta
from kubelite.api.errors import AlreadyExists, Forbidden, NotFound
from kubelite.client import Informer

log = logging.getLogger(__name__)

CONFIGMAP_NAME = "kube-root-ca.crt"
DATA_KEY = "ca.crt"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, ctx: ControllerContext, root_ca: str) -> None:
        super().__init__(ctx)
        self.root_ca = root_ca
        self.namespaces: Informer[Namespace] = ctx.factory.informer(Namespace)
        self.config_maps: Informer[ConfigMap] = ctx.factory.informer(ConfigMap)
        self.namespaces.add_handlers(on_add=self.enqueue)
        self.config_maps.add_handlers(on_add=self._config_map, on_update=lambda _old, new: self._config_map(new),
                                      on_delete=self._config_map)

    def _config_map(self, cm: ConfigMap) -> None:
        if cm.metadata.name == CONFIGMAP_NAME:
            self.enqueue_key(cm.metadata.namespace or "default")

    def desired(self, namespace: str) -> ConfigMap:
        return ConfigMap(metadata=ObjectMeta(name=CONFIGMAP_NAME, namespace=namespace,
                                             annotations={"kubernetes.io/description": DESCRIPTION}),
                         data={DATA_KEY: self.root_ca})

    async def reconcile(self, key: str) -> None:
        ns = self.namespaces.store.get(key)
        if ns is None or ns.metadata.deletion_timestamp is not None:
            return
        current = self.config_maps.store.get(f"{key}/{CONFIGMAP_NAME}")
        try:
            if current is None:
                await self.client.create(self.desired(key))
                log.info("published root CA", extra={"namespace": key})
            elif current.data != {DATA_KEY: self.root_ca}:
                updated = current.copy_deep()
                updated.data = {DATA_KEY: self.root_ca}
                updated.binary_data = {}
                await self.client.update(updated)
        except (AlreadyExists, NotFound, Forbidden):
            # Already there: the cache will deliver it (and enqueue again if it differs).
            # Gone or terminating namespace: nothing to publish.
            return

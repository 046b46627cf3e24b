"""The ConfigMaps and Secrets this node's pods use, each watched on its own (Kubernetes' watch-based
secret and configmap managers).

Why not one informer per kind: a kubelet's identity (`system:node:<n>`) may read
only the objects referenced by pods bound to its node -- the Node authorizer
refuses a cluster-wide list or watch of Secrets. So, like the kubelet's
`WatchBasedManager`, every referenced object gets a list + watch pinned to it
(`fieldSelector=metadata.name=<name>` in its namespace), which the Node
authorizer allows, and which is dropped when the last pod using it goes. A
change to a watched object calls `on_change`, which wakes the pods using it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from kubelet.envvars import referenced_objects
from kubelite.api import ConfigMap, Pod, Resource, Secret
from kubelite.api.errors import NotFound
from kubelite.client import ApiClient, Informer

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (kind, namespace, name)
KINDS: dict[str, type[ConfigMap] | type[Secret]] = {"ConfigMap": ConfigMap, "Secret": Secret}


def pod_objects(pod: Pod) -> set[Key]:
    """Every ConfigMap and Secret the pod uses (env, volumes, projected sources, image pull secrets)."""
    ns = pod.metadata.namespace or "default"
    cms, secrets = referenced_objects(pod)
    secrets |= {s.name for s in pod.spec.image_pull_secrets if s.name}
    return {("ConfigMap", ns, n) for n in cms} | {("Secret", ns, n) for n in secrets}


@dataclass
class _Watch:
    informer: Informer[ConfigMap] | Informer[Secret]
    task: asyncio.Task[None]
    pods: set[str] = field(default_factory=set)


class ObjectWatches:
    """Reference-counted per-object watches; also the pod workers' `ObjectSource` (cache, else a GET)."""

    def __init__(self, client: ApiClient, on_change: Callable[[Resource], None]) -> None:
        self.client = client
        self.on_change = on_change
        self._watches: dict[Key, _Watch] = {}
        self._pods: dict[str, set[Key]] = {}

    def register(self, pod: Pod) -> None:
        """Watch what `pod` uses now (and stop watching what it no longer uses)."""
        uid = pod.metadata.uid or ""
        keys = pod_objects(pod)
        old = self._pods.get(uid, set())
        self._pods[uid] = keys
        for key in keys - old:
            self._acquire(key, uid)
        for key in old - keys:
            self._release(key, uid)

    def unregister(self, uid: str) -> None:
        for key in self._pods.pop(uid, set()):
            self._release(key, uid)

    @property
    def watched(self) -> set[Key]:
        return set(self._watches)

    def _acquire(self, key: Key, uid: str) -> None:
        watch = self._watches.get(key)
        if watch is None:
            kind, ns, name = key
            pinned = f"metadata.name={name}"
            informer: Informer[ConfigMap] | Informer[Secret]
            if kind == "ConfigMap":
                informer = Informer(self.client, ConfigMap, namespace=ns, field_selector=pinned)
            else:
                informer = Informer(self.client, Secret, namespace=ns, field_selector=pinned)
            informer.add_handlers(on_add=self.on_change, on_update=lambda _old, new: self.on_change(new),
                                  on_delete=self.on_change)
            task = asyncio.create_task(informer.run(), name=f"watch {kind} {ns}/{name}")
            watch = self._watches[key] = _Watch(informer, task)
        watch.pods.add(uid)

    def _release(self, key: Key, uid: str) -> None:
        watch = self._watches.get(key)
        if watch is None:
            return
        watch.pods.discard(uid)
        if not watch.pods:
            del self._watches[key]
            watch.task.cancel()

    async def stop(self) -> None:
        tasks = [w.task for w in self._watches.values()]
        self._watches.clear()
        self._pods.clear()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)

    # ---- ObjectSource ------------------------------------------------------------------------

    async def _get(self, kind: str, namespace: str, name: str) -> ConfigMap | Secret | None:
        watch = self._watches.get((kind, namespace, name))
        if watch is not None:
            found = watch.informer.store.get(f"{namespace}/{name}")
            if found is not None:
                return found
        try:  # not watched (yet), or created just before its pod: ask
            return await self.client.get(KINDS[kind], name, namespace)
        except NotFound:
            return None

    async def config_map(self, namespace: str, name: str) -> ConfigMap | None:
        found = await self._get("ConfigMap", namespace, name)
        return found if isinstance(found, ConfigMap) else None

    async def secret(self, namespace: str, name: str) -> Secret | None:
        found = await self._get("Secret", namespace, name)
        return found if isinstance(found, Secret) else None

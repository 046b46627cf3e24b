"""The garbage collector's view of custom kinds: one informer per established CRD.

Why: custom objects carry ownerReferences like built-in ones (an operator's
ConfigMap owned by its custom resource, a custom resource owned by a
Deployment), so the collector must see them as dependents and as owners. The
controller-manager runs in its own process, so it follows the CRDs itself:
when one is established its kind is registered locally and an informer is
started for it; when it goes away the informer stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from controllers.informers import OWNER_UID_INDEX, owner_uid_index
from kubelite.api import registry
from kubelite.api.apiextensions import CustomResourceDefinition
from kubelite.api.registry import KindInfo
from kubelite.client import ApiClient, Informer
from kubelite.client.customkinds import established_kinds

log = logging.getLogger(__name__)

Added = Callable[[str, Informer[Any]], None]
Removed = Callable[[str], None]


class CustomKindInformers:
    """Starts and stops informers of custom kinds as CRD events arrive (handlers are synchronous)."""

    def __init__(self, client: ApiClient, on_added: Added, on_removed: Removed) -> None:
        self.client = client
        self.on_added = on_added
        self.on_removed = on_removed
        # CRD name -> (kind, informer, its task, the KindInfo this registered or None if already known)
        self._running: dict[str, tuple[str, Informer[Any], asyncio.Task[None], KindInfo | None]] = {}

    def changed(self, crd: CustomResourceDefinition) -> None:
        name = crd.metadata.name or ""
        kinds = established_kinds([crd.to_dict()])
        if not kinds:
            self.removed(crd)
            return
        info = kinds[0]
        current = self._running.get(name)
        if current is not None and current[0] == info.kind:
            return
        if current is not None:
            self.removed(crd)
        known = registry.for_gvk(info.api_version, info.kind)
        mine = None
        if known is None or known.custom is None or known.custom.crd_name != name:
            registry.register(info)
            mine = info
        else:
            info = known  # registered by someone else in this process (an in-process apiserver in tests)
        inf: Informer[Any] = Informer(self.client, info.model)
        inf.add_index(OWNER_UID_INDEX, owner_uid_index)
        self.on_added(info.kind, inf)
        task = asyncio.create_task(inf.run(), name=f"informer-{info.kind}")
        self._running[name] = (info.kind, inf, task, mine)
        log.info("garbage collecting a custom kind", extra={"crd": name, "kind_name": info.kind})

    def removed(self, crd: CustomResourceDefinition) -> None:
        name = crd.metadata.name or ""
        current = self._running.pop(name, None)
        if current is None:
            return
        kind, _, task, mine = current
        task.cancel()
        self.on_removed(kind)
        if mine is not None:
            registry.unregister(name, mine)

    async def stop(self) -> None:
        running, self._running = self._running, {}
        for name, (kind, _, task, mine) in running.items():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self.on_removed(kind)
            if mine is not None:
                registry.unregister(name, mine)

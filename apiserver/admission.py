"""Namespace admission and lifecycle.

Why in the apiserver: "the namespace must exist and not be terminating" has to
be checked on every create, against the store's current state; and a
namespace being deleted must eventually take its content with it. This module
answers the first on the write path and runs a small background loop for the
second: it deletes the objects of Terminating namespaces (pods gracefully, like
any client delete) and removes a namespace once it is empty.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from apiserver import storage
from apiserver.etcd import prefix_end
from kubelite.api import registry
from kubelite.api.errors import ApiError, Forbidden, NotFound

if TYPE_CHECKING:
    from apiserver.service import ResourceService

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class NamespaceAdmission:
    def __init__(self, service: ResourceService, *, cleanup_interval: float = 1.0) -> None:
        self._service = service
        self._cleanup_interval = cleanup_interval
        self._task: asyncio.Task[None] | None = None

    async def _namespace(self, name: str) -> dict[str, object] | None:
        """The namespace object: from the watch cache when there, else from the store (it may be brand new)."""
        cache = self._service.caches["namespaces"]
        cached = cache.get(storage.object_key("namespaces", "", name))
        if cached is not None:
            return cached.obj
        current = await self._service.read(registry.lookup("namespaces"), "", name)
        return current.obj if current is not None else None

    async def labels(self, name: str) -> dict[str, str] | None:
        """The namespace's labels (None if it does not exist): what Pod Security admission reads."""
        ns = await self._namespace(name)
        meta = ns.get("metadata") if ns is not None else None
        if not isinstance(meta, dict):
            return None
        labels = meta.get("labels")
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    async def check_create(self, namespace: str) -> None:
        """Creating in a namespace needs it to exist and not be terminating."""
        ns = await self._namespace(namespace)
        if ns is None:
            raise NotFound.for_object("namespaces", namespace)
        meta = ns.get("metadata")
        status = ns.get("status")
        terminating = (isinstance(meta, dict) and meta.get("deletionTimestamp")) or (
            isinstance(status, dict) and status.get("phase") == "Terminating"
        )
        if terminating:
            raise Forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated"
            )

    async def namespace_empty(self, namespace: str) -> bool:
        """True if no namespaced object of any kind lives in `namespace` (checked in the store)."""
        for info in registry.all_kinds():
            if not info.namespaced:
                continue
            prefix = storage.list_prefix(info.storage_name, namespace)
            result = await self._service.etcd.range(prefix, prefix_end(prefix.encode()), count_only=True)
            if result.count:
                return False
        return True

    async def ensure_system_namespaces(self) -> None:
        """Create default, kube-system, kube-public and kube-node-lease if missing (idempotent)."""
        for name in SYSTEM_NAMESPACES:
            body = storage.dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            try:
                await self._service.create("namespaces", "", body)
                log.info("created namespace", extra={"namespace": name})
            except ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise

    # ---- lifecycle of Terminating namespaces ------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._cleanup_loop(), name="namespace-cleanup")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _cleanup_loop(self) -> None:
        """A pass every `cleanup_interval` while a namespace is Terminating; otherwise asleep until
        the namespaces change (an idle apiserver woke every second to find none)."""
        namespaces = self._service.caches["namespaces"]
        while True:
            if self.terminating():
                await asyncio.sleep(self._cleanup_interval)
            else:
                await namespaces.next_change()
            try:
                await self.cleanup_once()
            except ApiError as exc:
                log.info("namespace cleanup deferred", extra={"error": str(exc)})
            except Exception:
                log.exception("namespace cleanup failed")

    def terminating(self) -> list[str]:
        cache = self._service.caches["namespaces"]
        return sorted(c.name for c in cache.store.values() if c.obj.get("metadata", {}).get("deletionTimestamp"))

    async def cleanup_once(self) -> None:
        """One pass: delete the content of every Terminating namespace; remove the empty ones."""
        for namespace in self.terminating():
            for info in registry.all_kinds():
                cache = self._service.caches.get(info.storage_name)  # None: a custom kind not served here
                if not info.namespaced or cache is None:
                    continue
                for c in list(cache.store.values()):
                    if c.namespace != namespace or c.obj.get("metadata", {}).get("deletionTimestamp"):
                        continue
                    try:
                        await self._service.delete(info.qualified_resource, namespace, c.name)
                    except NotFound:
                        pass
            if await self.namespace_empty(namespace):
                await self._remove_namespace(namespace)

    async def _remove_namespace(self, name: str) -> None:
        info = registry.lookup("namespaces")
        current = await self._service.read(info, "", name)
        if current is None or current.obj.get("metadata", {}).get("finalizers"):
            return
        key = storage.object_key("namespaces", "", name)
        result = await self._service.etcd.delete(key, current.rv)
        if result.succeeded:
            log.info("namespace removed", extra={"namespace": name})

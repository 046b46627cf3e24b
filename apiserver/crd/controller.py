"""The apiserver's CRD controller: stored CustomResourceDefinitions become served kinds.

Why inside the apiserver (like Kubernetes' apiextensions server): serving a
kind needs the apiserver's own state -- the kind registry, a watch cache and
a strategy per kind -- so the loop that follows the stored CRDs runs next to
them. It lists the CRDs at start (so kinds are served again after a restart
before the apiserver says ready), then watches; each changed CRD is a key of a
work queue, reconciled by reading it fresh:

- accepted names (no other CRD of the group has its kind) -> the kind is
  registered and served, and the status says NamesAccepted and Established;
- being deleted -> every object of the kind is deleted, then the cleanup
  finalizer is removed; once the CRD is gone the kind is no longer served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from apiserver.crd.strategy import CustomResourceStrategy
from apiserver.options import DeleteOptions, ListOptions, WatchOptions
from apiserver.service import ResourceService
from kubelite.api import registry
from kubelite.api.apiextensions import (
    CLEANUP_FINALIZER,
    CustomResourceDefinition,
    CustomResourceDefinitionCondition,
    CustomResourceDefinitionStatus,
)
from kubelite.api.errors import ApiError, Conflict, NotFound
from kubelite.api.registry import KindInfo
from kubelite.api.timeutil import now

log = logging.getLogger(__name__)

RESOURCE = "customresourcedefinitions"
RETRY_SECONDS = 0.5


def fingerprint(crd: CustomResourceDefinition) -> str:
    """What decides how a kind is served (its spec and uid): an unchanged one needs no re-registration."""
    return json.dumps([crd.metadata.uid, crd.spec.to_dict()], sort_keys=True)


def _condition(current: CustomResourceDefinitionStatus, kind: str, status: str, reason: str, message: str,
               when: str) -> CustomResourceDefinitionCondition:
    old = current.condition(kind)
    since = when if old is None or old.status != status else old.last_transition_time
    return CustomResourceDefinitionCondition(type=kind, status=status, reason=reason, message=message,
                                             last_transition_time=since)


def desired_status(crd: CustomResourceDefinition, conflict: str, terminating: bool,
                   when: str) -> CustomResourceDefinitionStatus:
    """The status the apiserver wants a CRD to have (pure: `when` is the transition time to use)."""
    current = crd.status
    accepted = not conflict
    conditions = [
        _condition(current, "NamesAccepted", "True" if accepted else "False",
                   "NoConflicts" if accepted else "KindConflict", "no conflicts found" if accepted else conflict,
                   when),
        _condition(current, "Established", "True" if accepted else "False",
                   "InitialNamesAccepted" if accepted else "NotAccepted",
                   "the initial names have been accepted" if accepted else "not all names are accepted", when),
    ]
    if terminating:
        conditions.append(_condition(current, "Terminating", "True", "InstanceDeletionInProgress",
                                     "CustomResource deletion is in progress", when))
    stored = list(current.stored_versions)
    storage = next((v.name for v in crd.spec.versions if v.storage), None)
    if storage and storage not in stored:
        stored.append(storage)
    names = crd.spec.names.model_copy(deep=True) if accepted else current.accepted_names
    return CustomResourceDefinitionStatus(conditions=conditions, accepted_names=names, stored_versions=stored)


class CrdController:
    """Keeps `registry` and `service` serving exactly the established CRDs of the store."""

    def __init__(self, service: ResourceService) -> None:
        self.service = service
        self.synced = asyncio.Event()
        self._served: dict[str, tuple[str, KindInfo]] = {}  # CRD name -> (fingerprint, kind)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()  # queued, not yet reconciled (a name is queued once)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(), name="crd-follow"),
                       asyncio.create_task(self._work(), name="crd-worker")]

    def enqueue(self, name: str, delay: float = 0.0) -> None:
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.enqueue, name)
            return
        if name not in self._pending:
            self._pending.add(name)
            self._queue.put_nowait(name)

    async def _work(self) -> None:
        """One worker: CRDs are reconciled one at a time, a failed one again after a pause."""
        while True:
            name = await self._queue.get()
            self._pending.discard(name)
            try:
                await self.reconcile(name)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                log.info("CRD reconcile failed; retrying", extra={"crd": name, "error": str(exc)})
                self.enqueue(name, RETRY_SECONDS)
            except Exception:
                log.exception("CRD reconcile failed; retrying", extra={"crd": name})
                self.enqueue(name, RETRY_SECONDS)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for name in list(self._served):
            await self._stop_serving(name)

    # ---- following the stored CRDs -------------------------------------------------------------

    async def _follow(self) -> None:
        delay = 0.05
        while True:
            try:
                listing = await self.service.list(RESOURCE, "", ListOptions())
                names = {json.loads(raw)["metadata"]["name"] for raw in listing.items}
                # Registered before `synced`: a ready apiserver already has this watch (and its count).
                events = await self.service.open_watch(
                    RESOURCE, "", WatchOptions(resource_version=listing.resource_version))
                async with contextlib.aclosing(events):
                    for name in names:
                        await self.reconcile(name)
                    for name in set(self._served) - names:
                        await self._stop_serving(name)
                    self.synced.set()
                    delay = 0.05
                    async for event in events:
                        self.enqueue(json.loads(event.object)["metadata"]["name"])
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                log.info("following CRDs again", extra={"error": str(exc)})
            except Exception:
                log.exception("following CRDs failed")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    # ---- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, name: str) -> None:
        try:
            raw = await self.service.get(RESOURCE, "", name)
        except NotFound:
            await self._stop_serving(name)
            return
        crd = CustomResourceDefinition.from_dict(json.loads(raw))
        if crd.metadata.deletion_timestamp is not None:
            await self._finalize(crd)
            return
        conflict = self._conflict(crd)
        if not conflict:
            await self._serve(crd)
        await self._write_status(crd, desired_status(crd, conflict, False, now()))

    def _conflict(self, crd: CustomResourceDefinition) -> str:
        """Why the CRD's names cannot be accepted ("" if they can): another CRD of its group has its kind, or
        its plural names a built-in resource (kubelite's clients and gRPC API name resources by plural, so
        the two could not be told apart)."""
        kind = crd.spec.names.kind
        builtin = {info.resource for info in registry.builtin_kinds()}
        if crd.spec.names.plural in builtin:
            return f'"{crd.spec.names.plural}" is the plural of a built-in resource'
        for other in registry.custom_kinds():
            if other.custom is not None and other.custom.crd_name != crd.metadata.name \
                    and other.group == crd.spec.group and other.kind == kind:
                return f'"{kind}" is already in use by {other.custom.crd_name}'
        return ""

    async def _serve(self, crd: CustomResourceDefinition) -> None:
        name = crd.metadata.name or ""
        mark = fingerprint(crd)
        served = self._served.get(name)
        if served is not None and served[0] == mark:
            return
        info = registry.from_crd(crd)
        if info is None:
            await self._stop_serving(name)
            return
        if served is not None and served[1].storage_name != info.storage_name:
            await self._stop_serving(name)
        await self.service.add_kind(info, CustomResourceStrategy(info))
        registry.register(info)
        self._served[name] = (mark, info)
        log.info("serving custom resource", extra={"crd": name, "api_version": info.api_version,
                                                   "resource": info.resource})

    async def _stop_serving(self, name: str) -> None:
        served = self._served.pop(name, None)
        if served is None:
            return
        registry.unregister(name, served[1])
        await self.service.remove_kind(served[1])
        log.info("stopped serving custom resource", extra={"crd": name})

    async def _write_status(self, crd: CustomResourceDefinition, status: CustomResourceDefinitionStatus) -> None:
        if status.to_dict() == crd.status.to_dict():
            return
        body = status.to_dict()

        def apply(current: dict[str, Any]) -> dict[str, Any]:
            current["status"] = body
            return current

        await self.service.patch(RESOURCE, "", crd.metadata.name or "", apply, status=True)

    async def _finalize(self, crd: CustomResourceDefinition) -> None:
        """Delete every object of a deleting CRD's kind, then let the CRD go (drop the finalizer)."""
        name = crd.metadata.name or ""
        if CLEANUP_FINALIZER not in crd.metadata.finalizers:
            return
        await self._write_status(crd, desired_status(crd, "", True, now()))
        served = self._served.get(name)
        if served is not None:
            info = served[1]
            listing = await self.service.list(info.qualified_resource, "", ListOptions())
            for raw in listing.items:
                meta = json.loads(raw).get("metadata", {})
                if meta.get("deletionTimestamp"):
                    continue
                with contextlib.suppress(NotFound, Conflict):
                    await self.service.delete(info.qualified_resource, meta.get("namespace", ""), meta.get("name", ""),
                                              DeleteOptions(propagation_policy="Background"))
            if (await self.service.list(info.qualified_resource, "", ListOptions(limit=1))).items:
                self.enqueue(name, RETRY_SECONDS)  # objects with finalizers of their own: look again
                return

        def apply(current: dict[str, Any]) -> dict[str, Any]:
            meta = current.setdefault("metadata", {})
            meta["finalizers"] = [f for f in meta.get("finalizers", []) if f != CLEANUP_FINALIZER]
            return current

        with contextlib.suppress(NotFound):
            await self.service.patch(RESOURCE, "", name, apply)

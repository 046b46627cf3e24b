"""The garbage collector: dependents whose owners are gone are deleted.

Generic over a list of kinds (workloads, pods, ConfigMaps, Secrets, Services, custom kinds): any watched
object with ownerReferences is a dependent; any watched object that
disappears may be an owner, and its dependents (found through the shared
owner-uid index) are re-checked. Deleting a Deployment thus deletes its
ReplicaSets, whose deletion then deletes their pods (background propagation).

An owner is only declared absent after a live GET says NotFound (or answers
a different uid): the cache may simply not have seen the owner yet, e.g. a pod
created a moment after its ReplicaSet. Absent uids are remembered, since a uid
never comes back.

Owners being deleted with the Kubernetes finalizers are honoured too:
`orphan` (dependents lose their ownerReference, then the finalizer is removed)
and `foregroundDeletion` (dependents are deleted first, then the finalizer).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import kubelite.api.registry
from controllers.base import Controller, ControllerContext
from controllers.garbagecollector.customkinds import CustomKindInformers
from controllers.informers import OWNER_UID_INDEX
from kubelite.api import DaemonSet, Deployment, Job, Pod, ReplicaSet, Resource, StatefulSet
from kubelite.api.apiextensions import CustomResourceDefinition
from kubelite.api.batch import CronJob
from kubelite.api.core import ConfigMap, Secret, Service
from kubelite.api.errors import Conflict, NotFound
from kubelite.client import Informer

log = logging.getLogger(__name__)

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
# ConfigMaps, Secrets and Services too: operators make them owned by their custom resources.
DEFAULT_KINDS: tuple[type[Resource], ...] = (Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, CronJob, Pod,
                                             ConfigMap, Secret, Service)
ABSENT_CACHE_SIZE = 4096


class GarbageCollector(Controller):
    """Queue items are "<Kind>/<namespace>/<name>" for any of the watched kinds."""

    name = "garbagecollector"

    def __init__(
        self,
        ctx: ControllerContext,
        kinds: Sequence[type[Resource]] = DEFAULT_KINDS,
    ) -> None:
        super().__init__(ctx)
        self.informers: dict[str, Informer[Any]] = {}
        self._absent: OrderedDict[str, None] = OrderedDict()
        for cls in kinds:
            kind = kubelite.api.registry.for_model(cls).kind
            inf = ctx.factory.informer(cls)
            self.informers[kind] = inf
            self._register(kind, inf)
        # Custom kinds come and go with their CRDs: each established one gets an informer of its own.
        self.custom = CustomKindInformers(ctx.client, self._add_custom, self._remove_custom)
        ctx.factory.informer(CustomResourceDefinition).add_handlers(
            self.custom.changed, lambda _old, new: self.custom.changed(new), self.custom.removed)

    def _add_custom(self, kind: str, inf: Informer[Any]) -> None:
        self.informers[kind] = inf
        self._register(kind, inf)

    def _remove_custom(self, kind: str) -> None:
        self.informers.pop(kind, None)

    async def stop(self, timeout: float = 10.0) -> None:
        await super().stop(timeout)
        await self.custom.stop()

    def _register(self, kind: str, inf: Informer[Any]) -> None:
        def on_add(obj: Resource) -> None:
            self._changed(kind, obj)

        def on_update(_old: Resource, new: Resource) -> None:
            self._changed(kind, new)

        def on_delete(obj: Resource) -> None:
            self._removed(kind, obj)

        inf.add_handlers(on_add, on_update, on_delete)

    # ------------------------------------------------------------------ handlers (enqueue only)

    def _item(self, kind: str, obj: Resource) -> str:
        return f"{kind}/{obj.metadata.namespace or ''}/{obj.metadata.name}"

    def _changed(self, kind: str, obj: Resource) -> None:
        meta = obj.metadata
        owner_side = meta.deletion_timestamp is not None and (
            ORPHAN_FINALIZER in meta.finalizers or FOREGROUND_FINALIZER in meta.finalizers
        )
        if meta.owner_references or owner_side:
            self.enqueue_key(self._item(kind, obj))

    def _removed(self, kind: str, obj: Resource) -> None:
        uid = obj.metadata.uid
        if uid:
            self._remember_absent(uid)
            self._enqueue_dependents(uid)
        # A foreground-deleting owner waits for this dependent: let it re-check.
        for ref in obj.metadata.owner_references:
            if ref.kind in self.informers:
                ns = obj.metadata.namespace or "" if self._namespaced(ref.kind) else ""
                self.enqueue_key(f"{ref.kind}/{ns}/{ref.name}")

    def _enqueue_dependents(self, uid: str) -> None:
        for kind, inf in self.informers.items():
            for dep in inf.store.by_index(OWNER_UID_INDEX, uid):
                self.enqueue_key(self._item(kind, dep))

    def _remember_absent(self, uid: str) -> None:
        self._absent[uid] = None
        self._absent.move_to_end(uid)
        while len(self._absent) > ABSENT_CACHE_SIZE:
            self._absent.popitem(last=False)

    @staticmethod
    def _namespaced(kind: str) -> bool:
        info = kubelite.api.registry.find(kind)
        return info is None or info.namespaced

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        kind, _, rest = key.partition("/")
        inf = self.informers.get(kind)
        if inf is None:
            return
        obj: Resource | None = inf.store.get(rest.lstrip("/"))
        if obj is None:
            return
        meta = obj.metadata
        if meta.deletion_timestamp is not None:
            await self._process_deleting_owner(kind, obj)
            return
        if meta.owner_references:
            await self._check_owners(kind, obj)

    async def _owner_exists(self, ref_kind: str, ref_name: str, ref_uid: str, namespace: str) -> bool | None:
        """True/False after checking; None if the owner's kind is unknown (then never delete)."""
        if ref_uid in self._absent:
            return False
        info = kubelite.api.registry.find(ref_kind)
        if info is None:
            log.warning("owner of unknown kind", extra={"kind": ref_kind, "object": ref_name})
            return None
        ns = namespace if info.namespaced else ""
        inf = self.informers.get(info.kind)
        if inf is not None:
            cached = inf.store.get(f"{ns}/{ref_name}" if ns else ref_name)
            if cached is not None and cached.metadata.uid == ref_uid:
                return True  # a deletion of it will re-check us via its DELETED event
        try:
            live = await self.client.get(info.model, ref_name, ns)
        except NotFound:
            self._remember_absent(ref_uid)
            return False
        if live.metadata.uid != ref_uid:
            self._remember_absent(ref_uid)
            return False
        return True

    async def _check_owners(self, kind: str, obj: Resource) -> None:
        ns = obj.metadata.namespace or ""
        dangling: list[str] = []
        for ref in obj.metadata.owner_references:
            exists = await self._owner_exists(ref.kind, ref.name, ref.uid, ns)
            if exists is None or exists:
                continue
            dangling.append(ref.uid)
        if not dangling:
            return
        info = kubelite.api.registry.for_model(type(obj))
        if len(dangling) == len(obj.metadata.owner_references):
            log.info("deleting object whose owners are gone",
                     extra={"kind": kind, "namespace": ns, "object": obj.metadata.name})
            try:
                await self.client.delete_raw(info.resource, obj.metadata.name or "", ns or None,
                                             propagation_policy="Background", precondition_uid=obj.metadata.uid)
            except (NotFound, Conflict):
                pass  # already gone, or a namesake with another uid: not ours to delete
            return
        # Some owners remain: only drop the references to the vanished ones.
        copy = obj.copy_deep()
        copy.metadata.owner_references = [r for r in copy.metadata.owner_references if r.uid not in dangling]
        try:
            await self.client.update(copy)
        except NotFound:
            pass

    async def _process_deleting_owner(self, kind: str, owner: Resource) -> None:
        finalizers = owner.metadata.finalizers
        uid = owner.metadata.uid or ""
        if ORPHAN_FINALIZER in finalizers:
            for dep_kind, inf in self.informers.items():
                for dep in inf.store.by_index(OWNER_UID_INDEX, uid):
                    copy = dep.copy_deep()
                    copy.metadata.owner_references = [r for r in copy.metadata.owner_references if r.uid != uid]
                    try:
                        await self.client.update(copy)
                    except NotFound:
                        pass
                    log.info("orphaned dependent", extra={"kind": dep_kind, "object": dep.metadata.name})
            await self._remove_finalizer(owner, ORPHAN_FINALIZER)
        elif FOREGROUND_FINALIZER in finalizers:
            blocking = 0
            for inf in self.informers.values():
                for dep in inf.store.by_index(OWNER_UID_INDEX, uid):
                    ref = next((r for r in dep.metadata.owner_references if r.uid == uid), None)
                    if ref is not None and ref.block_owner_deletion:
                        blocking += 1
                    if dep.metadata.deletion_timestamp is None:
                        await self._delete_for_foreground(dep)
            if blocking == 0:
                await self._remove_finalizer(owner, FOREGROUND_FINALIZER)

    async def _delete_for_foreground(self, dep: Resource) -> None:
        """Delete a dependent of a foreground-deleting owner; in foreground too if it has dependents."""
        uid = dep.metadata.uid or ""
        has_dependents = any(inf.store.index_keys(OWNER_UID_INDEX, uid) for inf in self.informers.values())
        info = kubelite.api.registry.for_model(type(dep))
        try:
            await self.client.delete_raw(info.resource, dep.metadata.name or "", dep.metadata.namespace or None,
                                         propagation_policy="Foreground" if has_dependents else "Background",
                                         precondition_uid=uid)
        except (NotFound, Conflict):
            pass

    async def _remove_finalizer(self, obj: Resource, finalizer: str) -> None:
        def mutate(fresh: Resource) -> bool:
            if finalizer not in fresh.metadata.finalizers:
                return False
            fresh.metadata.finalizers = [f for f in fresh.metadata.finalizers if f != finalizer]
            return True

        try:
            await self.client.update_with_retry(type(obj), obj.metadata.name or "", obj.metadata.namespace or "",
                                                mutate)
        except NotFound:
            pass

"""ResourceQuota admission: charge every create against its namespace's quotas, or refuse it.

Why charge in the quota's status: two concurrent creates must not both take
the last slot. Each create adds its usage to `status.used` with a compare-and-
swap on the quota (the service's guaranteed update); the loser of a race
re-reads the winner's charge and is refused with `exceeded quota`. As in
Kubernetes, a charged create that then fails leaves the quota over-counted
until the resourcequota controller recounts; a quota whose status does not yet
cover its spec (new or edited) is counted here from the watch caches first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from apiserver.selection import Selection
from kubelite.api import quota, registry
from kubelite.api.errors import Forbidden, InternalError, NotFound
from kubelite.api.meta import Resource
from kubelite.api.namespacepolicy import ResourceQuota
from kubelite.api.pods import Pod

if TYPE_CHECKING:
    from apiserver.service import ResourceService

UPDATE_CHARGED = frozenset({"services"})
"""Kinds whose quota usage an update can raise (a Service's type and ports)."""


class QuotaAdmission:
    def __init__(self, service: ResourceService) -> None:
        self._service = service
        self._info = registry.lookup("resourcequotas")
        # One charge at a time per quota in this apiserver: a burst of creates (a ReplicaSet's
        # slow-start batch) would otherwise spin on compare-and-swap conflicts; the CAS still
        # guards against other apiservers.
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._waiting: dict[tuple[str, str], int] = {}

    def quotas(self, namespace: str) -> list[ResourceQuota]:
        items, _ = self._service.caches["resourcequotas"].list_objects(Selection.parse(namespace))
        return [ResourceQuota.from_dict(c.obj) for c in items]

    def count(self, namespace: str, names: Iterable[str]) -> quota.Amounts:
        """Current usage of `names` in `namespace`, counted from the watch caches."""
        wanted = list(names)
        usages: list[quota.Amounts] = []
        for resource in sorted({s for n in wanted if (s := quota.source_of(n)) is not None}):
            info = registry.lookup(resource)
            items, _ = self._service.caches[resource].list_objects(Selection.parse(namespace))
            for c in items:
                usages.append(quota.usage(resource, info.model.from_dict(c.obj)))
        return quota.total(usages, wanted)

    async def admit(self, resource: str, namespace: str, obj: Resource, *, dry_run: bool = False) -> None:
        """Charge `obj`'s create to every quota of `namespace` that limits it; Forbidden if one cannot take it."""
        quotas = self.quotas(namespace)
        if not quotas:
            return  # the common case: no arithmetic at all
        await self._admit(resource, namespace, obj, quota.usage(resource, obj), quotas, dry_run)

    async def admit_update(self, resource: str, namespace: str, old: Resource, new: Resource, *,
                           dry_run: bool = False) -> None:
        """Charge what an update adds (a Service turned NodePort takes node ports); Forbidden past a quota.

        Only kinds whose usage an update can change are charged (UPDATE_CHARGED): a pod's
        resources and every object count are fixed at creation.
        """
        if resource not in UPDATE_CHARGED:
            return
        quotas = self.quotas(namespace)
        if not quotas:
            return
        before, after = quota.usage(resource, old), quota.usage(resource, new)
        added = {n: a - before.get(n, 0) for n, a in after.items() if a > before.get(n, 0)}
        if added:
            await self._admit(resource, namespace, new, added, quotas, dry_run)

    async def _admit(self, resource: str, namespace: str, obj: Resource, requested: quota.Amounts,
                     quotas: list[ResourceQuota], dry_run: bool) -> None:
        relevant = sorted((q for q in quotas if set(q.spec.hard) & set(requested)),
                          key=lambda q: q.metadata.name or "")
        if not relevant:
            return
        what = f'{registry.lookup(resource).qualified_resource} "{obj.metadata.name}"'
        if isinstance(obj, Pod):
            for q in relevant:
                missing = quota.missing_specs(q, obj)
                if missing:
                    raise Forbidden(f"{what} is forbidden: failed quota: {q.metadata.name}: {missing}",
                                    name=obj.metadata.name, kind=resource)
        for q in relevant:
            await self._charge(namespace, q.metadata.name or "", requested, what, dry_run)

    async def _charge(self, namespace: str, name: str, requested: quota.Amounts, what: str, dry_run: bool) -> None:
        def mutate(current: Resource) -> Resource:
            if not isinstance(current, ResourceQuota):
                raise InternalError(f"resourcequotas/{name} decoded as {type(current).__name__}")
            hard = quota.hard_amounts(current)
            used = quota.used_amounts(current)
            if used is None:
                used = self.count(namespace, hard)
            charged = {n: requested.get(n, 0) for n in hard}
            refusal = quota.exceeded(name, hard, used, charged)
            if refusal:
                raise Forbidden(f"{what} is forbidden: {refusal}")
            current.status.hard = dict(current.spec.hard)
            current.status.used = quota.status_strings({n: used.get(n, 0) + charged[n] for n in hard})
            return current

        key = (namespace, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await self._service.guaranteed_update(self._info, namespace, name, None, mutate, dry_run=dry_run)
        except NotFound:
            pass  # the quota was deleted meanwhile: nothing to charge
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # nobody holds or waits for it: forget it
                del self._waiting[key], self._locks[key]

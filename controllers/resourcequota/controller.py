"""resourcequota controller: recount `status.used` of every ResourceQuota.

Why a controller when admission already charges creates: only a recount can
give back what deletions free (a deleted pod, a pod that finished), undo the
charge of a create that failed after admission, and fill in a quota that is new
or was edited. Keys are quotas (namespace/name); a quota is recounted when it
changes, when a pod or Service of its namespace goes away or a pod finishes,
and every `resync` seconds for the kinds it counts without an informer.

The recount reads the quota live first and writes with that version: if
admission charges a create meanwhile, the write conflicts and the recount
runs again, so a charge is never overwritten by an older count.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.informers import NAMESPACE_INDEX
from controllers.resourcequota.plan import compute_status, sources
from kubelite.api import Pod, Service, registry
from kubelite.api.errors import NotFound
from kubelite.api.meta import Resource
from kubelite.api.namespacepolicy import ResourceQuota
from kubelite.api.podutil import is_pod_terminal
from kubelite.client import Informer

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0


class ResourceQuotaController(Controller):
    name = "resourcequota"

    def __init__(self, ctx: ControllerContext, *, resync: float = RESYNC_SECONDS) -> None:
        super().__init__(ctx)
        self.resync = resync
        self.quotas: Informer[ResourceQuota] = ctx.factory.informer(ResourceQuota)
        self.pods: Informer[Pod] = ctx.factory.informer(Pod)
        self.services: Informer[Service] = ctx.factory.informer(Service)
        self.quotas.add_handlers(on_add=self.enqueue, on_update=self._quota_updated)
        self.pods.add_handlers(on_update=self._pod_updated, on_delete=self._freed)
        self.services.add_handlers(on_update=self._service_updated, on_delete=self._freed)

    def _quota_updated(self, old: ResourceQuota, new: ResourceQuota) -> None:
        if old.spec != new.spec or new.status.hard != new.spec.hard:
            self.enqueue(new)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if is_pod_terminal(new) and not is_pod_terminal(old):
            self._freed(new)

    def _service_updated(self, old: Service, new: Service) -> None:
        if old.spec.type != new.spec.type or len(old.spec.ports) != len(new.spec.ports):
            self._freed(new)  # node ports or a load balancer may have been given back

    def _freed(self, obj: Resource) -> None:
        """Something stopped counting: recount the quotas of its namespace."""
        for q in self.quotas.store.by_index(NAMESPACE_INDEX, obj.metadata.namespace or ""):
            self.enqueue(q)

    async def reconcile(self, key: str) -> None:
        cached = self.quotas.store.get(key)
        if cached is None:
            return
        namespace, name = cached.metadata.namespace or "default", cached.metadata.name or ""
        try:
            current = await self.client.get(ResourceQuota, name, namespace)
        except NotFound:
            return
        objects: dict[str, list[Resource]] = {}
        for resource in sources(current):
            model = registry.lookup(resource).model
            objects[resource] = list((await self.client.list(model, namespace)).items)
        status = compute_status(current, objects)
        if status.to_dict() != current.status.to_dict():
            updated = current.copy_deep()
            updated.status = status
            try:
                await self.client.update_status(updated)  # Conflict: admission charged meanwhile; retried
            except NotFound:
                return
            log.info("quota recounted", extra={"quota": key, "used": status.used})
        self.queue.add_after(key, self.resync)

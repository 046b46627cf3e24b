"""The namespace controller: empties a Terminating namespace, then releases it.

Kubernetes' protocol: deleting a Namespace only marks it (deletionTimestamp,
`status.phase: Terminating`); this controller deletes every object of every
namespaced kind in it (pods gracefully, owners with background propagation so
the garbage collector follows the ownerReferences), waits until nothing is
left, and then removes the `kubernetes` entry from `spec.finalizers`. The
apiserver deletes the Namespace object once its finalizers are empty.

Why live lists instead of informers: a namespace is deleted rarely, and it
may hold any kind (including ones this process watches nothing of); one list
per kind per pass is cheap and always current.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from kubelite.api import Namespace, NamespaceCondition, now, registry
from kubelite.api.errors import Conflict, NotFound
from kubelite.api.podutil import get_condition, transition_time
from kubelite.client import Informer

log = logging.getLogger(__name__)

NAMESPACE_FINALIZER = "kubernetes"
CONTENT_REMAINING = "NamespaceContentRemaining"
RECHECK_SECONDS = 1.0
MAX_RECHECK_SECONDS = 10.0


class NamespaceController(Controller):
    name = "namespace"

    def __init__(
        self,
        ctx: ControllerContext,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        # Rechecks of a namespace whose content remains back off on the queue (1 s, 2 s, ... 10 s).
        super().__init__(ctx, base_delay=recheck_seconds, max_delay=MAX_RECHECK_SECONDS)
        self.recheck_seconds = recheck_seconds
        self.ns_informer: Informer[Namespace] = ctx.factory.informer(Namespace)
        self.ns_informer.add_handlers(self._changed, lambda _old, new: self._changed(new), self._gone)

    def _changed(self, ns: Namespace) -> None:
        if ns.metadata.deletion_timestamp is not None:
            self.enqueue(ns)

    def _gone(self, ns: Namespace) -> None:
        self.queue.forget(ns.metadata.name or "")

    async def reconcile(self, key: str) -> None:
        ns = self.ns_informer.store.get(key)
        if ns is None or ns.metadata.deletion_timestamp is None:
            return
        name = ns.metadata.name or ""
        remaining = await self.delete_content(name)
        await self._write_status(ns, remaining)
        if remaining:
            self.queue.add_rate_limited(key)  # kept growing by run_workers; forgotten once a pass finds nothing
            return
        if NAMESPACE_FINALIZER in ns.spec.finalizers:
            await self._finalize(ns)

    async def delete_content(self, namespace: str) -> dict[str, int]:
        """Delete everything in `namespace`; the count of objects still there per resource."""
        remaining: dict[str, int] = {}
        for info in registry.all_kinds():
            if not info.namespaced:
                continue
            listing = await self.client.list_raw(info.resource, namespace=namespace)
            items = listing.get("items", [])
            if not items:
                continue
            remaining[info.resource] = len(items)
            for item in items:
                meta = item.get("metadata", {})
                if meta.get("deletionTimestamp"):
                    continue
                try:
                    await self.client.delete_raw(info.resource, meta.get("name", ""), namespace,
                                                 propagation_policy="Background",
                                                 precondition_uid=meta.get("uid"))
                except (NotFound, Conflict):
                    continue
        return remaining

    async def _write_status(self, ns: Namespace, remaining: dict[str, int]) -> None:
        status = ns.status.copy_deep()
        status.phase = "Terminating"
        message = ", ".join(f"{resource} has {n} resource instances" for resource, n in sorted(remaining.items()))
        cond = NamespaceCondition(
            type=CONTENT_REMAINING,
            status="True" if remaining else "False",
            reason="SomeResourcesRemain" if remaining else "ContentRemoved",
            message=f"Some resources are remaining: {message}" if remaining else "All content successfully removed",
        )
        cond.last_transition_time = transition_time(get_condition(status, CONTENT_REMAINING), cond.status, now())
        status.conditions = [c for c in status.conditions if c.type != CONTENT_REMAINING] + [cond]
        if status.to_dict() == ns.status.to_dict():
            return
        updated = ns.copy_deep()
        updated.status = status
        try:
            await self.client.update_status(updated)
        except NotFound:
            return

    async def _finalize(self, ns: Namespace) -> None:
        def drop(fresh: Namespace) -> bool:
            if NAMESPACE_FINALIZER not in fresh.spec.finalizers:
                return False
            fresh.spec.finalizers = [f for f in fresh.spec.finalizers if f != NAMESPACE_FINALIZER]
            return True

        try:
            await self.client.update_with_retry(Namespace, ns.metadata.name or "", "", drop)
        except NotFound:
            return
        log.info("namespace finalized", extra={"namespace": ns.metadata.name})


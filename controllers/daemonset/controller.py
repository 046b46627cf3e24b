"""The DaemonSet controller: one daemon pod on every eligible node.

Handlers only enqueue keys: a DaemonSet event its own key, a pod event its
owner's key, and a node change (added, removed, labels or taints changed)
every DaemonSet's key, since any of them may now want or refuse that node.
`reconcile` plans from the caches (`controllers.daemonset.plan`), creates and
deletes under expectations, then replaces outdated pods within the rolling
update budget, and writes status only when it changed.

Daemon pods are bound by the controller itself (`spec.nodeName`), the way
Kubernetes did before daemon pods went through the scheduler: a node that
joins gets its pod without a scheduler, and a cordoned node still runs its
daemons.
"""

from __future__ import annotations

import logging
from datetime import datetime

from controllers.base import ControllerContext, selector_matcher
from controllers.daemonset.plan import (
    compute_status,
    new_pod,
    plan_nodes,
    plan_rolling_update,
    pods_by_node,
    revision_hash,
)
from controllers.podowner import PodOwnerController
from kubelite.api import DaemonSet, Node, Pod
from kubelite.api.podutil import is_pod_available, ready_since
from kubelite.api.selectors import LabelMatcher
from kubelite.client import Informer

log = logging.getLogger(__name__)


class DaemonSetController(PodOwnerController[DaemonSet], owner=DaemonSet):
    name = "daemonset"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.node_informer: Informer[Node] = ctx.factory.informer(Node)
        self.node_informer.add_handlers(self._node_added, self._node_updated, self._node_deleted)

    def selector(self, owner: DaemonSet) -> LabelMatcher | None:
        return selector_matcher(owner.spec.selector)

    # ------------------------------------------------------------------ node handlers (enqueue only)

    def _enqueue_all(self) -> None:
        for ds in self.owner_informer.store.list():
            self.enqueue(ds)

    def _node_added(self, node: Node) -> None:
        self._enqueue_all()

    def _node_updated(self, old: Node, new: Node) -> None:
        if old.metadata.resource_version == new.metadata.resource_version:
            return
        relevant = (
            old.metadata.labels != new.metadata.labels
            or [t.to_dict() for t in old.spec.taints] != [t.to_dict() for t in new.spec.taints]
            or (old.metadata.deletion_timestamp is None) != (new.metadata.deletion_timestamp is None)
        )
        if relevant:
            self._enqueue_all()

    def _node_deleted(self, node: Node) -> None:
        self._enqueue_all()

    def min_ready_seconds(self, owner: DaemonSet) -> int:
        return owner.spec.min_ready_seconds or 0

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        ds = self.owner_informer.store.get(key)
        if ds is None:
            self.expectations.delete(key)
            return
        pods = await self.claim_pods(ds)
        nodes = {n.metadata.name or "": n for n in self.node_informer.store.list()}
        by_node = pods_by_node(pods)
        revision = revision_hash(ds)
        now = self.clock()
        error: Exception | None = None
        if ds.metadata.deletion_timestamp is None and self.expectations.satisfied(key):
            try:
                await self._manage(ds, key, nodes, by_node, revision, now)
            except Exception as exc:  # still write status below, then retry
                error = exc
        await self.write_status(ds, ds.status, compute_status(ds, nodes, by_node, revision, now))
        if error is not None:
            raise error
        wait = self._next_availability_check(ds, pods, now)
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _manage(
        self, ds: DaemonSet, key: str, nodes: dict[str, Node], by_node: dict[str, list[Pod]], revision: str,
        now: datetime,
    ) -> None:
        plan = plan_nodes(ds, nodes, by_node)
        if not plan.create and not plan.delete:
            # Nothing to fix: replace outdated pods within the budget (recreated at the next pass).
            plan.delete = plan_rolling_update(ds, nodes, by_node, revision, now)
        if plan.failed_deleted:
            self.recorder.event(ds, "Warning", "FailedDaemonPod",
                                f"Found {plan.failed_deleted} failed daemon pod(s), will try to kill and recreate")
        if plan.delete:
            await self.delete_pods(ds, key, plan.delete)
        if plan.create:
            nodes_to_fill = plan.create
            await self.create_pods(ds, key, len(nodes_to_fill), lambda i: new_pod(ds, nodes_to_fill[i], revision))

    def _next_availability_check(self, ds: DaemonSet, pods: list[Pod], now: datetime) -> float | None:
        min_ready = ds.spec.min_ready_seconds or 0
        if min_ready <= 0:
            return None
        waits = []
        for pod in pods:
            since = ready_since(pod)
            if since is not None and not is_pod_available(pod, min_ready, now):
                waits.append(max(0.0, min_ready - (now - since).total_seconds()))
        return min(waits) + 0.1 if waits else None

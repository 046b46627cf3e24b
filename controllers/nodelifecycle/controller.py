"""Node lifecycle: notice nodes that stopped heartbeating, taint them, evict their pods.

Why heartbeats are judged on this process's monotonic clock: the kubelet's
Lease carries *its* wall-clock renewTime, and two machines' clocks disagree.
So, like Kubernetes, we remember when we last saw the Lease *change* and call
the node lost only when it has not changed for `grace_period` seconds here.

What follows mirrors Kubernetes' node lifecycle + taint manager:
- a lost node's conditions become `Unknown` (reason NodeStatusUnknown);
- a node whose Ready is Unknown gets `node.kubernetes.io/unreachable`
  (NoSchedule and NoExecute), one whose Ready is False gets `.../not-ready`;
  the taints go away when the kubelet reports Ready again;
- a pod on a node with NoExecute taints is deleted once its tolerations run
  out (`tolerationSeconds`, counted from the taint's timeAdded; the apiserver
  gives every pod default tolerations), so its controller recreates it on a
  healthy node. The kubelet of a node that comes back stops those pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from controllers.base import Controller, ControllerContext
from kubelite.api import Lease, Node, Pod, Taint
from kubelite.api.errors import NotFound
from kubelite.api.podutil import condition_status, is_pod_active
from kubelite.api.taints import NOT_READY, UNREACHABLE, toleration_seconds
from kubelite.api.timeutil import format_unix, parse_time_or_none
from kubelite.client import Informer, retry_on_conflict

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
POD_NODE_INDEX = "spec.nodeName"
MANAGED_KEYS = (NOT_READY, UNREACHABLE)


def _pod_node(pod: Pod) -> list[str]:
    return [pod.spec.node_name] if pod.spec.node_name else []


def _parse(ts: str | None) -> float | None:
    when = parse_time_or_none(ts)
    return None if when is None else when.timestamp()


def ready_status(node: Node) -> str | None:
    return condition_status(node.status, "Ready")


def wanted_taint_keys(ready: str | None) -> set[str]:
    """Which managed taint a node should carry for its Ready status (none while unknown-yet)."""
    if ready == "Unknown":
        return {UNREACHABLE}
    if ready == "False":
        return {NOT_READY}
    return set()


def reconcile_taints(current: list[Taint], ready: str | None, wall: float) -> list[Taint] | None:
    """The node's taints with the managed ones brought in line; None when nothing changes.

    Existing taints keep their timeAdded, so eviction deadlines never move.
    """
    keys = wanted_taint_keys(ready)
    kept = [t for t in current if t.key not in MANAGED_KEYS or t.key in keys]
    for key in sorted(keys):
        for effect in ("NoSchedule", "NoExecute"):
            if not any(t.key == key and t.effect == effect for t in kept):
                kept.append(Taint(key=key, effect=effect, time_added=format_unix(wall)))
    same = [(t.key, t.effect) for t in kept] == [(t.key, t.effect) for t in current]
    return None if same else kept


class NodeLifecycleController(Controller):
    """Queue keys are node names; a monitor loop re-enqueues every node each `monitor_period`."""

    name = "nodelifecycle"
    single_worker = True

    def __init__(
        self,
        ctx: ControllerContext,
        *,
        grace_period: float = 40.0,
        monitor_period: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ctx)
        self.recorder = ctx.recorder
        self.grace_period = grace_period
        self.monitor_period = monitor_period
        self._clock = clock
        self._wall = wall
        self.nodes: Informer[Node] = ctx.factory.informer(Node)
        self.leases: Informer[Lease] = ctx.factory.informer(Lease)
        self.pods: Informer[Pod] = ctx.factory.informer(Pod)
        self.pods.add_index(POD_NODE_INDEX, _pod_node)
        self._heartbeats: dict[str, tuple[str, float]] = {}  # node -> (lease renewTime, seen at)
        self._monitor: asyncio.Task[None] | None = None
        self.nodes.add_handlers(self.enqueue, lambda _old, new: self.enqueue(new), self._on_node_delete)
        self.leases.add_handlers(self._on_lease, lambda _old, new: self._on_lease(new))
        self.pods.add_handlers(self._on_pod, lambda _old, new: self._on_pod(new))

    def _on_node_delete(self, node: Node) -> None:
        self._heartbeats.pop(node.metadata.name or "", None)
        self.enqueue(node)  # its pods are orphaned: collected in reconcile

    def _on_lease(self, lease: Lease) -> None:
        if lease.metadata.namespace == LEASE_NAMESPACE:
            self.enqueue_key(lease.metadata.name or "")

    def _on_pod(self, pod: Pod) -> None:
        """A pod landing on a tainted node must be checked against the taints too."""
        node = self.nodes.store.get(pod.spec.node_name or "") if pod.spec.node_name else None
        if node is not None and any(t.effect == "NoExecute" for t in node.spec.taints):
            self.enqueue(node)

    def start(self) -> None:
        super().start()
        self._monitor = asyncio.create_task(self._monitor_loop(), name="nodelifecycle-monitor")

    async def stop(self, timeout: float = 10.0) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        await super().stop(timeout)

    async def _monitor_loop(self) -> None:
        """Silence produces no events, so time itself must trigger the checks."""
        while True:
            for key in self.nodes.store.keys():
                self.enqueue_key(key)
            await asyncio.sleep(self.monitor_period)

    def _last_heartbeat(self, name: str) -> float:
        """When (on our clock) this node's Lease last changed; first sight counts as a heartbeat."""
        lease = self.leases.store.get(f"{LEASE_NAMESPACE}/{name}")
        record = (lease.spec.renew_time or "") if lease is not None else ""
        seen = self._heartbeats.get(name)
        if seen is None or seen[0] != record:
            seen = (record, self._clock())
            self._heartbeats[name] = seen
        return seen[1]

    async def reconcile(self, key: str) -> None:
        node = self.nodes.store.get(key)
        if node is None:
            await self._collect_orphaned_pods(key)
            return
        silent_for = self._clock() - self._last_heartbeat(key)
        ready = ready_status(node)
        if silent_for > self.grace_period and ready != "Unknown" and ready is not None:
            node = await self._mark_unknown(key) or node
            ready = ready_status(node)
        taints = reconcile_taints(node.spec.taints, ready, self._wall())
        if taints is not None:
            node = await self._set_taints(key, ready) or node
        await self._evict(node)

    async def _collect_orphaned_pods(self, node_name: str) -> None:
        """Pods bound to a Node that no longer exists have no kubelet to finish them: delete them
        at once (Kubernetes' pod GC), so their controllers' replacements are not blocked."""
        for pod in self.pods.store.by_index(POD_NODE_INDEX, node_name):
            try:
                await self.client.delete(Pod, pod.metadata.name or "", pod.metadata.namespace or "default",
                                         grace_period_seconds=0, precondition_uid=pod.metadata.uid)
            except NotFound:
                continue
            log.info("deleted pod of a removed node", extra={"pod": f"{pod.metadata.namespace}/{pod.metadata.name}",
                                                             "node": node_name})

    async def _mark_unknown(self, name: str) -> Node | None:
        try:
            node = await self.client.get(Node, name, "")
        except NotFound:
            return None
        stamp = format_unix(self._wall())
        for cond in node.status.conditions:
            if cond.status != "Unknown":
                cond.status = "Unknown"
                cond.reason = "NodeStatusUnknown"
                cond.message = "Kubelet stopped posting node status."
                cond.last_transition_time = stamp
        updated = await self.client.update_status(node)  # Conflict -> requeued, decided again
        log.warning("node stopped heartbeating", extra={"node": name, "grace_period": self.grace_period})
        if self.recorder is not None:
            self.recorder.event(updated, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        return updated

    async def _set_taints(self, name: str, ready: str | None) -> Node | None:
        async def attempt() -> Node | None:
            try:
                node = await self.client.get(Node, name, "")
            except NotFound:
                return None
            taints = reconcile_taints(node.spec.taints, ready_status(node), self._wall())
            if taints is None:
                return node
            node.spec.taints = taints
            updated = await self.client.update(node)
            log.info("node taints updated", extra={"node": name, "ready": ready,
                                                    "taints": [f"{t.key}:{t.effect}" for t in taints]})
            return updated

        return await retry_on_conflict(attempt, what=f"node {name} (taints)")

    async def _evict(self, node: Node) -> None:
        """Delete pods whose tolerations of the node's NoExecute taints have run out."""
        no_execute = [t for t in node.spec.taints if t.effect == "NoExecute"]
        if not no_execute:
            return
        since = min((_parse(t.time_added) or self._wall()) for t in no_execute)
        next_check: float | None = None
        for pod in self.pods.store.by_index(POD_NODE_INDEX, node.metadata.name or ""):
            if not is_pod_active(pod):
                continue
            allowed = toleration_seconds(no_execute, pod.spec.tolerations)
            if allowed is None:
                continue
            remaining = since + allowed - self._wall()
            if remaining > 0:
                next_check = remaining if next_check is None else min(next_check, remaining)
                continue
            await self._delete(pod, node)
        if next_check is not None:
            self.queue.add_after(node.metadata.name or "", next_check + 0.05)

    async def _delete(self, pod: Pod, node: Node) -> None:
        try:
            await self.client.delete(Pod, pod.metadata.name or "", pod.metadata.namespace or "default")
        except NotFound:
            return
        log.info("evicted pod from tainted node", extra={"pod": f"{pod.metadata.namespace}/{pod.metadata.name}",
                                                          "node": node.metadata.name})
        if self.recorder is not None:
            self.recorder.event(pod, "Normal", "TaintManagerEviction",
                                f"Marking for deletion Pod {pod.metadata.namespace}/{pod.metadata.name}")

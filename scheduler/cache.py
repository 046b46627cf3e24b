"""The scheduler's view of the cluster: nodes and the pods placed on them.

Why a cache of its own (not the informer store): scheduling needs per-node
totals, and it needs to see its *own* decisions immediately. A pod we just
bound is "assumed" onto its node the moment we decide, before the bind RPC
returns and long before the informer reports spec.nodeName; without that, a
burst of pods would all see the same empty node and overpack it.

Lifecycle of a pod in the cache (as in kube-scheduler):

    assume_pod ──▶ finish_binding ──▶ add_pod (informer confirms) ──▶ remove_pod
        │                 │
        └─ forget_pod     └─ expired after `assume_ttl` if never confirmed

Every operation is O(1) (plus the pod's host ports); nothing rescans all pods.
Scheduling cycles run without yielding, so the cache itself is the consistent
snapshot a cycle reads; `node_list()` is rebuilt only when the node set changes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from kubelite.api import Node, Pod
from scheduler.framework import CycleState, NodeInfo, node_conditions
from scheduler.resources import PodInfo, make_pod_info, pod_uid_key, updated_pod_info

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    node_name: str
    assumed: bool
    deadline: float | None = None  # set by finish_binding; None while the bind is in flight


class SchedulerCache:
    """Nodes (`NodeInfo`) and the pods assigned or assumed on them, keyed by pod uid."""

    def __init__(self, assume_ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.assume_ttl = assume_ttl
        self._clock = clock
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._assumed: set[str] = set()
        self._node_list: list[NodeInfo] | None = None
        # Nodes with pods declaring pod (anti-)affinity, kept as pods are placed and removed, so a
        # cycle reads them instead of scanning every node (CycleState.affinity_nodes).
        self._affinity_nodes: dict[str, NodeInfo] = {}
        # How many nodes are not ready / cordoned / tainted (framework.node_conditions): the filters
        # for those skip themselves in a cycle when there are none (CycleState.node_conditions).
        self._conditions: Counter[str] = Counter()

    # --- nodes ---------------------------------------------------------------

    def add_node(self, node: Node) -> NodeInfo:
        name = node.metadata.name or ""
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo(name, node)
            self._node_list = None
        else:
            had_node = info.node is not None
            if had_node:
                self._conditions.subtract(node_conditions(info.facts))
            info.set_node(node)
            if not had_node:
                self._node_list = None
        self._conditions.update(node_conditions(info.facts))
        return info

    def update_node(self, node: Node) -> NodeInfo:
        return self.add_node(node)

    def remove_node(self, node: Node) -> None:
        """Forget the node; its pods stay counted on a ghost entry until they are deleted too."""
        name = node.metadata.name or ""
        info = self._nodes.get(name)
        if info is None:
            return
        if info.node is not None:
            self._conditions.subtract(node_conditions(info.facts))
        if info.pods:
            info.set_node(None)
        else:
            del self._nodes[name]
        self._node_list = None

    def node_list(self) -> list[NodeInfo]:
        """The schedulable view: every known node in a stable (name) order."""
        if self._node_list is None:
            self._node_list = sorted((n for n in self._nodes.values() if n.node is not None),
                                     key=lambda n: n.name)
        return self._node_list

    def cycle_state(self, info: PodInfo) -> CycleState:
        """A scheduling cycle's state for `info` over this cache's snapshot: every node, and the
        nodes running pods with pod (anti-)affinity terms (kept here, not found by a scan)."""
        state = CycleState(info, self.node_list())
        state.affinity_nodes = [n for n in self._affinity_nodes.values() if n.node is not None]
        state.node_conditions = self._conditions
        return state

    def get_node(self, name: str) -> NodeInfo | None:
        info = self._nodes.get(name)
        return info if info is not None and info.node is not None else None

    @property
    def node_count(self) -> int:
        return len(self.node_list())

    # --- pods ----------------------------------------------------------------

    def _place(self, state: _PodState) -> None:
        info = self._nodes.get(state.node_name)
        if info is None:
            info = self._nodes[state.node_name] = NodeInfo(state.node_name)
        info.add_pod(state.info)
        if info.pods_with_affinity:
            self._affinity_nodes[info.name] = info

    def _unplace(self, state: _PodState) -> None:
        info = self._nodes.get(state.node_name)
        if info is None:
            return
        info.remove_pod(state.info.uid)
        if not info.pods_with_affinity:
            self._affinity_nodes.pop(info.name, None)
        if info.node is None and not info.pods:
            del self._nodes[state.node_name]

    def has_assumed(self) -> bool:
        return bool(self._assumed)

    def is_assumed(self, pod: Pod) -> bool:
        return pod_uid_key(pod) in self._assumed

    def pod_count(self) -> int:
        return len(self._pods)

    def assume_pod(self, info: PodInfo, node_name: str) -> None:
        """Count `info` on `node_name` now, before anyone confirms the bind."""
        uid = pod_uid_key(info.pod)
        old = self._pods.get(uid)
        if old is not None:
            self._unplace(old)
        state = _PodState(info, node_name, assumed=True)
        self._pods[uid] = state
        self._assumed.add(uid)
        self._place(state)

    def finish_binding(self, pod: Pod) -> None:
        """The bind RPC succeeded: start the clock for expiring it if the informer never confirms."""
        state = self._pods.get(pod_uid_key(pod))
        if state is not None and state.assumed:
            state.deadline = self._clock() + self.assume_ttl

    def forget_pod(self, pod: Pod) -> bool:
        """Undo an assumption (the bind failed). True if resources were released."""
        uid = pod_uid_key(pod)
        state = self._pods.get(uid)
        if state is None or not state.assumed:
            return False
        self._unplace(state)
        del self._pods[uid]
        self._assumed.discard(uid)
        return True

    def add_pod(self, pod: Pod) -> None:
        """An assigned pod from the informer: confirms an assumed pod, or is counted anew."""
        node_name = pod.spec.node_name or ""
        uid = pod_uid_key(pod)
        old = self._pods.get(uid)
        if old is not None:
            self._unplace(old)
            info = updated_pod_info(old.info, pod)  # the same pod: its requests cannot have changed
        else:
            info = make_pod_info(pod)
        state = _PodState(info, node_name, assumed=False)
        self._pods[uid] = state
        self._assumed.discard(uid)
        self._place(state)

    def update_pod(self, pod: Pod) -> None:
        self.add_pod(pod)

    def remove_pod(self, pod: Pod) -> bool:
        """The pod is gone (or terminal): free its resources. True if it was counted."""
        uid = pod_uid_key(pod)
        state = self._pods.pop(uid, None)
        self._assumed.discard(uid)
        if state is None:
            return False
        self._unplace(state)
        return True

    def cleanup_expired(self) -> list[PodInfo]:
        """Drop assumed pods whose bind finished `assume_ttl` ago but were never confirmed.

        Only the (small) assumed set is scanned, never all pods.
        """
        now = self._clock()
        expired: list[PodInfo] = []
        for uid in list(self._assumed):
            state = self._pods.get(uid)
            if state is None:
                self._assumed.discard(uid)
                continue
            if state.deadline is not None and now >= state.deadline:
                log.warning("assumed pod expired without confirmation",
                            extra={"pod": state.info.key, "node": state.node_name})
                self._unplace(state)
                del self._pods[uid]
                self._assumed.discard(uid)
                expired.append(state.info)
        return expired

    def dump(self) -> dict[str, tuple[int, int, int]]:
        """node -> (pods, requested cpu millis, requested memory bytes); for tests and debugging."""
        return {n.name: (len(n.pods), n.requested_cpu, n.requested_memory) for n in self._nodes.values()}

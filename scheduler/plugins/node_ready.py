"""Filter: only nodes whose kubelet reports Ready=True take pods.

Why a filter (kube-scheduler relies on a not-ready taint added by the node
lifecycle controller instead): kubelite has no such controller yet, and
binding to a node whose kubelet is not running would strand the pod.
"""

from __future__ import annotations

from kubelite.api import Pod
from scheduler.framework import NOT_READY, SKIP, SUCCESS, ClusterEvent, CycleState, NodeInfo, Status

NAME = "NodeReady"
REASON = "node(s) were not ready"


class NodeReady:
    name = NAME

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        """Every node Ready (the usual case): nothing to check on any node this cycle."""
        return SUCCESS if state.node_conditions[NOT_READY] else SKIP

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        if not node_info.facts.ready:
            return Status.unschedulable(REASON, plugin=NAME)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_CONDITION_CHANGE})

"""Filter: a cordoned node (spec.unschedulable) takes no new pods.

Why a toleration check: Kubernetes lets a pod opt in by tolerating the
`node.kubernetes.io/unschedulable:NoSchedule` taint (DaemonSets do), so the
cordon is honoured the same way here.
"""

from __future__ import annotations

from kubelite.api import Pod, Taint
from kubelite.api.taints import tolerates
from scheduler.framework import SKIP, SUCCESS, UNSCHEDULABLE, ClusterEvent, CycleState, NodeInfo, Status

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"
TAINT_KEY = "node.kubernetes.io/unschedulable"


def tolerates_unschedulable(pod: Pod) -> bool:
    taint = Taint(key=TAINT_KEY, effect="NoSchedule")
    return any(tolerates(t, taint) for t in pod.spec.tolerations)


class NodeUnschedulable:
    name = NAME

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        """No node cordoned (the usual case): nothing to check on any node this cycle."""
        return SUCCESS if state.node_conditions[UNSCHEDULABLE] else SKIP

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        if node_info.facts.unschedulable and not tolerates_unschedulable(pod):
            return Status.unschedulable(REASON, plugin=NAME)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_SPEC_UNSCHEDULABLE_CHANGE,
                          ClusterEvent.NODE_TAINT_CHANGE})

"""Filter: a node's NoSchedule/NoExecute taints must all be tolerated by the pod.

Why here and not only via NodeUnschedulable: taints are the general "keep
pods off unless they opt in" mechanism (dedicated nodes, control-plane nodes);
PreferNoSchedule is only a preference and does not filter.
"""

from __future__ import annotations

from collections.abc import Iterable

from api import Pod, Taint, Toleration
from scheduler.framework import SUCCESS, ClusterEvent, CycleState, NodeInfo, Status

NAME = "TaintToleration"
FILTERED_EFFECTS = ("NoSchedule", "NoExecute")


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes' matching: effect and key must match when given; Exists ignores the value."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator == "Exists":
        return True
    if not toleration.key:
        return False  # an empty key only makes sense with Exists
    return (toleration.value or "") == (taint.value or "")


def untolerated(taints: Iterable[Taint], tolerations: list[Toleration]) -> Taint | None:
    for taint in taints:
        if taint.effect in FILTERED_EFFECTS and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


class TaintToleration:
    name = NAME

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        node = node_info.node
        if node is None or not node.spec.taints:
            return SUCCESS
        taint = untolerated(node.spec.taints, pod.spec.tolerations)
        if taint is None:
            return SUCCESS
        return Status.unschedulable(f"node(s) had untolerated taint {{{taint.key}: {taint.value or ''}}}",
                                    plugin=NAME)

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_TAINT_CHANGE})

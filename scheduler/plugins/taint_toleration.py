"""Filter: a node's NoSchedule/NoExecute taints must all be tolerated by the pod.

Why here and not only via NodeUnschedulable: taints are the general "keep
pods off unless they opt in" mechanism (dedicated nodes, control-plane nodes);
PreferNoSchedule is only a preference and does not filter.
"""

from __future__ import annotations

from api import Pod
from api.taints import untolerated
from scheduler.framework import SUCCESS, ClusterEvent, CycleState, NodeInfo, Status

NAME = "TaintToleration"


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

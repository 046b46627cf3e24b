"""Filter: every key=value of spec.nodeSelector must be a label of the node.

Why the kube-scheduler wording in the reason: users (and scripts) grep
FailedScheduling events for it; node affinity will share the same reason.
"""

from __future__ import annotations

from kubelite.api import Pod
from scheduler.framework import SKIP, SUCCESS, ClusterEvent, CycleState, NodeInfo, Status

NAME = "NodeSelector"
REASON = "node(s) didn't match Pod's node affinity/selector"


class NodeSelector:
    name = NAME

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        return SUCCESS if pod.spec.node_selector else SKIP

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        selector = pod.spec.node_selector
        if not selector:
            return SUCCESS
        labels = node_info.node.metadata.labels if node_info.node is not None else {}
        for key, value in selector.items():
            if labels.get(key) != value:
                return Status.unschedulable(REASON, plugin=NAME)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_LABEL_CHANGE})

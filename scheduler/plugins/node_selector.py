"""Filter: every key=value of spec.nodeSelector must be a label of the node.

Why the kube-scheduler wording in the reason: users (and scripts) grep
FailedScheduling events for it; node affinity will share the same reason.
"""

from __future__ import annotations

from kubelite.api import Pod
from scheduler.framework import ClusterEvent, CycleState, NodeInfo
from scheduler.plugins.pod_filter import PodRequestFilter

NAME = "NodeSelector"
REASON = "node(s) didn't match Pod's node affinity/selector"


class NodeSelector(PodRequestFilter):
    name = NAME
    reason = REASON
    events = frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_LABEL_CHANGE})

    def asks(self, state: CycleState, pod: Pod) -> bool:
        return bool(pod.spec.node_selector)

    def fits(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> bool:
        labels = node_info.node.metadata.labels if node_info.node is not None else {}
        return all(labels.get(key) == value for key, value in pod.spec.node_selector.items())

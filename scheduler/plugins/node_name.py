"""Filter: a pod that names its node (spec.nodeName pinned before scheduling) fits only there.

Why it exists although pods with spec.nodeName never reach the queue: the
filter set is also what answers "could this pod run on that node" for other
callers (a future preemption or a simulator), which must respect the pin.
"""

from __future__ import annotations

from kubelite.api import Pod
from scheduler.framework import ClusterEvent, CycleState, NodeInfo
from scheduler.plugins.pod_filter import PodRequestFilter

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"


class NodeName(PodRequestFilter):
    name = NAME
    reason = REASON
    events = frozenset({ClusterEvent.NODE_ADD})

    def asks(self, state: CycleState, pod: Pod) -> bool:
        return bool(pod.spec.node_name)

    def fits(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> bool:
        return pod.spec.node_name == node_info.name

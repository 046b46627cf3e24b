"""Filter: a pod that names its node (spec.nodeName pinned before scheduling) fits only there.

Why it exists although pods with spec.nodeName never reach the queue: the
filter set is also what answers "could this pod run on that node" for other
callers (a future preemption or a simulator), which must respect the pin.
"""

from __future__ import annotations

from kubelite.api import Pod
from scheduler.framework import SKIP, SUCCESS, ClusterEvent, CycleState, NodeInfo, Status

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"


class NodeName:
    name = NAME

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        return SUCCESS if pod.spec.node_name else SKIP

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        wanted = pod.spec.node_name
        if wanted and wanted != node_info.name:
            return Status.unschedulable(REASON, plugin=NAME)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD})

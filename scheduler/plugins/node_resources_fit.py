"""Filter: the pod's requests fit in what the node has left (cpu, memory, pod count).

Why all failing resources are reported (not just the first): the aggregated
FailedScheduling message should tell the user every resource that is short,
as kube-scheduler does ("2 Insufficient cpu, 2 Insufficient memory").
"""

from __future__ import annotations

from kubelite.api import Pod
from scheduler.framework import SUCCESS, ClusterEvent, CycleState, NodeInfo, Status

NAME = "NodeResourcesFit"
TOO_MANY_PODS = "Too many pods"
INSUFFICIENT_CPU = "Insufficient cpu"
INSUFFICIENT_MEMORY = "Insufficient memory"


class NodeResourcesFit:
    name = NAME

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        # Requests are parsed once when the pod enters the queue (PodInfo); nothing to precompute.
        return SUCCESS

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        req = state.pod_info.requests
        cpu, memory = req.cpu, req.memory
        if (node_info.free_pods > 0 and (not cpu or cpu <= node_info.free_cpu)
                and (not memory or memory <= node_info.free_memory)):
            return SUCCESS  # the common case: three comparisons with the node's kept free figures
        reasons: list[str] = []
        if node_info.free_pods <= 0:
            reasons.append(TOO_MANY_PODS)
        if cpu and cpu > node_info.free_cpu:
            reasons.append(INSUFFICIENT_CPU)
        if memory and memory > node_info.free_memory:
            reasons.append(INSUFFICIENT_MEMORY)
        if reasons:
            return Status.unschedulable(*reasons, plugin=NAME)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_ALLOCATABLE_CHANGE,
                          ClusterEvent.ASSIGNED_POD_DELETE})

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
        facts = node_info.facts
        req = state.pod_info.requests
        if (len(node_info.pods) < facts.pods
                and (not req.cpu or node_info.requested_cpu + req.cpu <= facts.cpu)
                and (not req.memory or node_info.requested_memory + req.memory <= facts.memory)):
            return SUCCESS  # the common case, without building a list
        reasons: list[str] = []
        if len(node_info.pods) + 1 > facts.pods:
            reasons.append(TOO_MANY_PODS)
        if req.cpu and node_info.requested_cpu + req.cpu > facts.cpu:
            reasons.append(INSUFFICIENT_CPU)
        if req.memory and node_info.requested_memory + req.memory > facts.memory:
            reasons.append(INSUFFICIENT_MEMORY)
        if reasons:
            return Status.unschedulable(*reasons, plugin=NAME)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_ALLOCATABLE_CHANGE,
                          ClusterEvent.ASSIGNED_POD_DELETE})

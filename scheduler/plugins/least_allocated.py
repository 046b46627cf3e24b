"""Score: prefer the node with the most cpu and memory left after placing the pod.

Why non-zero requests: pods without requests would otherwise score every node
equally and stack up on one; kube-scheduler counts them as 100m / 200Mi for
scoring only, and so do we (see scheduler.resources).
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.api import Pod
from scheduler.framework import MAX_NODE_SCORE, CycleState, NodeInfo

NAME = "NodeResourcesLeastAllocated"


def least_requested(requested: int, capacity: int) -> int:
    """(capacity - requested) * 100 / capacity, clamped; 0 when nothing is allocatable."""
    if capacity <= 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


class LeastAllocated:
    name = NAME

    def __init__(self, cpu_weight: int = 1, memory_weight: int = 1) -> None:
        self.cpu_weight = cpu_weight
        self.memory_weight = memory_weight

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        want = state.pod_info.non_zero
        cpu = least_requested(node_info.non_zero_cpu + want.cpu, node_info.alloc_cpu)
        memory = least_requested(node_info.non_zero_memory + want.memory, node_info.alloc_memory)
        total = self.cpu_weight + self.memory_weight
        return (cpu * self.cpu_weight + memory * self.memory_weight) // total if total else 0

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        """`score` for many nodes, inlined: this runs for every feasible node of every cycle.

        `least_requested(used + want, cap)` with `free = cap - used` kept per node: the pod fits
        the non-zero view when `want <= free`, and then scores `(free - want) * 100 // cap`."""
        want = state.pod_info.non_zero
        want_cpu, want_memory = want.cpu, want.memory
        cw, mw = self.cpu_weight, self.memory_weight
        total = cw + mw
        if not total:
            return [0] * len(nodes)
        out: list[int] = []
        append = out.append
        for n in nodes:
            free, cap = n.nz_free_cpu, n.alloc_cpu
            cpu = (free - want_cpu) * MAX_NODE_SCORE // cap if want_cpu <= free and cap > 0 else 0
            free, cap = n.nz_free_memory, n.alloc_memory
            memory = (free - want_memory) * MAX_NODE_SCORE // cap if want_memory <= free and cap > 0 else 0
            append((cpu * cw + memory * mw) // total)
        return out

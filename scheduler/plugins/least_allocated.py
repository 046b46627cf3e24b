"""Score: prefer the node with the most cpu and memory left after placing the pod.

Why non-zero requests: pods without requests would otherwise score every node
equally and stack up on one; kube-scheduler counts them as 100m / 200Mi for
scoring only, and so do we (see scheduler.resources).
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.api import Pod
from scheduler.framework import MAX_NODE_SCORE, CycleState, NodeInfo, exact_float

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

        `least_requested(used + want, cap)` with `free = cap - used` kept per node: the pod fits the
        non-zero view when `free - want >= 0`, and then scores `(free - want) * 100 // cap`. Memory is
        computed on floats, which is exact for any node below EXACT_FLOAT_MEMORY (the node keeps
        0.0 as its float capacity otherwise); a node it does not fit, or that large, goes through
        the integer rule. Equal weights (the default) reduce `(cpu * w + memory * w) // 2w` to
        `(cpu + memory) // 2`, the same integer."""
        want = state.pod_info.non_zero
        want_cpu, want_memory = want.cpu, want.memory
        want_memory_f = exact_float(want_memory)
        cw, mw = self.cpu_weight, self.memory_weight
        total = cw + mw
        if not total:
            return [0] * len(nodes)
        halve = cw == mw
        out: list[int] = []
        append = out.append
        for n in nodes:
            free = n.nz_free_cpu - want_cpu
            cap = n.alloc_cpu
            cpu = free * MAX_NODE_SCORE // cap if free >= 0 and cap > 0 else 0
            free_f = n.nz_free_memory_f - want_memory_f
            cap_f = n.alloc_memory_f
            memory = (int(free_f * MAX_NODE_SCORE / cap_f) if free_f >= 0.0 and cap_f
                      else least_requested(n.non_zero_memory + want_memory, n.alloc_memory))
            append((cpu + memory) // 2 if halve else (cpu * cw + memory * mw) // total)
        return out

"""Why a pod did not fit: per-node statuses aggregated into kube-scheduler's message.

Why this exact wording: `0/3 nodes are available: 2 Insufficient cpu, 1
node(s) were unschedulable.` is what Kubernetes users know and what tooling
greps for; the counts say how many nodes failed for each reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from scheduler.framework import Status


@dataclass
class Diagnosis:
    """Filter results of one failed cycle: node name -> rejecting status."""

    num_all_nodes: int
    node_statuses: dict[str, Status] = field(default_factory=dict)
    pre_filter_status: Status | None = None

    def add(self, node_name: str, status: Status) -> None:
        self.node_statuses[node_name] = status

    @property
    def unschedulable_plugins(self) -> frozenset[str]:
        plugins = {s.plugin for s in self.node_statuses.values() if s.plugin}
        if self.pre_filter_status is not None and self.pre_filter_status.plugin:
            plugins.add(self.pre_filter_status.plugin)
        return frozenset(plugins)

    def message(self) -> str:
        return fit_error_message(self.num_all_nodes, self.node_statuses.values(), self.pre_filter_status)


def fit_error_message(num_all_nodes: int, statuses: Iterable[Status], pre_filter: Status | None = None) -> str:
    """`0/N nodes are available: <count> <reason>, ...`, most frequent reason first.

    A node rejected for several resources counts once for each, like Kubernetes.
    With no nodes at all the message says so rather than listing nothing.
    """
    head = f"0/{num_all_nodes} nodes are available"
    if pre_filter is not None and not pre_filter.ok:
        return f"{head}: {pre_filter.message()}."
    histogram: Counter[str] = Counter()
    for status in statuses:
        histogram.update(status.reasons)
    if not histogram:
        return f"{head}." if num_all_nodes else "no nodes available to schedule pods"
    parts = [f"{count} {reason}" for reason, count in sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))]
    return f"{head}: {', '.join(parts)}."

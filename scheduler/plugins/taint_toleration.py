"""Filter: a node's NoSchedule/NoExecute taints must all be tolerated by the pod.

Why here and not only via NodeUnschedulable: taints are the general "keep
pods off unless they opt in" mechanism (dedicated nodes, control-plane nodes);
PreferNoSchedule is only a preference and does not filter.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.api import Pod
from kubelite.api.taints import tolerates, untolerated
from scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    SUCCESS,
    TAINTED,
    ClusterEvent,
    CycleState,
    NodeInfo,
    Status,
)

NAME = "TaintToleration"


class TaintToleration:
    name = NAME

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        """No node tainted (the usual case): nothing to check on any node this cycle."""
        return SUCCESS if state.node_conditions[TAINTED] else SKIP

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        taints = node_info.facts.taints
        if not taints:
            return SUCCESS
        taint = untolerated(taints, pod.spec.tolerations)
        if taint is None:
            return SUCCESS
        return Status.unschedulable(f"node(s) had untolerated taint {{{taint.key}: {taint.value or ''}}}",
                                    plugin=NAME)

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_TAINT_CHANGE})

    # PreferNoSchedule is a soft taint: it does not filter, it lowers the node's score.

    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> bool:
        """No tainted node in the snapshot (the cache counts them): no feasible node is either, and the
        feasible nodes are not scanned."""
        if state.nodes and not state.node_conditions[TAINTED]:
            return False
        return any(n.facts.taints for n in nodes)

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        """Raw: how many PreferNoSchedule taints of the node the pod does not tolerate."""
        taints = node_info.facts.taints
        tolerations = [t for t in pod.spec.tolerations if t.effect in (None, "", "PreferNoSchedule")]
        return sum(1 for taint in taints
                   if taint.effect == "PreferNoSchedule" and not any(tolerates(t, taint) for t in tolerations))

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        """Untainted nodes (the common case) cost one attribute check each."""
        return [self.score(state, pod, n) if n.facts.taints else 0 for n in nodes]

    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> None:
        """Fewest untolerated soft taints -> MAX_NODE_SCORE."""
        worst = max(scores, default=0)
        for i, s in enumerate(scores):
            scores[i] = MAX_NODE_SCORE if worst == 0 else (worst - s) * MAX_NODE_SCORE // worst

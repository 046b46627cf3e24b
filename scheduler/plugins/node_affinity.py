"""Filter + Score: required and preferred node affinity.

Why one plugin for both: the preferred terms use the same matcher as the
required ones (api.nodeaffinity, shared with the DaemonSet controller); the
filter shares NodeSelector's kube-scheduler reason so users see one message
for "this pod does not want these nodes".
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.api import Pod
from kubelite.api.nodeaffinity import preferred_affinity_score, term_matches
from scheduler.framework import MAX_NODE_SCORE, SKIP, SUCCESS, ClusterEvent, CycleState, NodeInfo, Status
from scheduler.plugins.node_selector import REASON

NAME = "NodeAffinity"


def _required(pod: Pod) -> list[object] | None:
    affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
    required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
    return list(required.node_selector_terms) if required is not None else None


class NodeAffinity:
    name = NAME

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        return SUCCESS if _required(pod) is not None else SKIP

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
        required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
        if required is None or node_info.node is None:
            return SUCCESS
        if any(term_matches(t, node_info.node) for t in required.node_selector_terms):
            return SUCCESS
        return Status.unschedulable(REASON, plugin=NAME)

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_LABEL_CHANGE})

    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> bool:
        affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
        return bool(affinity and affinity.preferred_during_scheduling_ignored_during_execution)

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        return preferred_affinity_score(pod.spec, node_info.node) if node_info.node is not None else 0

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
        if affinity is None or not affinity.preferred_during_scheduling_ignored_during_execution:
            return [0] * len(nodes)
        return [self.score(state, pod, n) for n in nodes]

    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> None:
        """Highest matched weight -> MAX_NODE_SCORE, proportionally below."""
        best = max(scores, default=0)
        if best <= 0:
            return
        for i, s in enumerate(scores):
            scores[i] = s * MAX_NODE_SCORE // best

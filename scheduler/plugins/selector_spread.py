"""Score: spread the pods of one controller (ReplicaSet, ...) over the nodes.

Why: replicas exist for availability, so two replicas on one node while
another node has none is the worst placement even when resources would
favour it. kube-scheduler gets this from default topology-spread constraints;
here the pod's controlling owner stands in for the selector, and each NodeInfo
keeps a running count per owner, so scoring costs a dict lookup per node.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.api import Pod
from scheduler.framework import MAX_NODE_SCORE, CycleState, NodeInfo

NAME = "SelectorSpread"


class SelectorSpread:
    name = NAME

    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> bool:
        """A pod without a controlling owner has no siblings to spread from: every node scores alike."""
        return bool(state.pod_info.owner_uid)

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        """Raw: how many pods of the same owner the node already has (normalized below)."""
        owner = state.pod_info.owner_uid
        return node_info.owner_counts.get(owner, 0) if owner else 0

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        owner = state.pod_info.owner_uid
        if not owner:
            return [0] * len(nodes)
        return [n.owner_counts.get(owner, 0) for n in nodes]

    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> None:
        """Fewest siblings -> MAX_NODE_SCORE; most siblings -> 0; no siblings anywhere -> all equal."""
        most = max(scores, default=0)
        if most == 0:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
            return
        for i, count in enumerate(scores):
            scores[i] = MAX_NODE_SCORE if most == 0 else MAX_NODE_SCORE * (most - count) // most

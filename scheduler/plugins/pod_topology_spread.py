"""PreFilter + Filter + Score: topologySpreadConstraints.

For each constraint, the matching pods (same namespace, labelSelector plus
matchLabelKeys) are counted per domain -- the value of `topologyKey` on the
eligible nodes (those with the key that pass the pod's nodeSelector/required
node affinity, kube-scheduler's default nodeAffinityPolicy=Honor). Placing the
pod in domain d must keep `count[d] + 1 - min(count) <= maxSkew` for
`DoNotSchedule` constraints; `ScheduleAnyway` constraints only score, lower
counts better. Counting happens once per cycle in PreFilter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from kubelite.api import Pod
from kubelite.api.errors import BadRequest
from kubelite.api.nodeaffinity import required_affinity_matches
from kubelite.api.pods import TopologySpreadConstraint
from kubelite.api.selectors import LabelMatcher, label_matcher
from scheduler.framework import MAX_NODE_SCORE, SKIP, SUCCESS, ClusterEvent, CycleState, NodeInfo, Status

NAME = "PodTopologySpread"
STATE_KEY = "PreFilter" + NAME
REASON = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL_REASON = "node(s) didn't match pod topology spread constraints (missing required label)"


@dataclass
class _Constraint:
    key: str
    max_skew: int
    counts: Counter[str]  # domain value -> matching pods
    min_count: int
    self_match: int  # 1 when the incoming pod itself matches the selector


def _selector(c: TopologySpreadConstraint, pod: Pod) -> LabelMatcher:
    sel = c.label_selector.model_copy(deep=True) if c.label_selector is not None else None
    if sel is not None:
        for key in c.match_label_keys:
            if key in pod.metadata.labels:
                sel.match_labels[key] = pod.metadata.labels[key]
    try:
        return label_matcher(sel)
    except BadRequest:
        return label_matcher(None)


def count(c: TopologySpreadConstraint, pod: Pod, nodes: Sequence[NodeInfo]) -> _Constraint:
    matcher = _selector(c, pod)
    namespace = pod.metadata.namespace or "default"
    counts: Counter[str] = Counter()
    for n in nodes:
        node = n.node
        if node is None:
            continue
        value = node.metadata.labels.get(c.topology_key)
        if value is None or not required_affinity_matches(pod.spec, node):
            continue
        counts[value] += 0  # an empty eligible domain still counts (it is the minimum)
        for info in n.pods.values():
            other = info.pod
            if (other.metadata.namespace or "default") == namespace and other.metadata.deletion_timestamp is None \
                    and matcher.matches(other.metadata.labels):
                counts[value] += 1
    min_count = min(counts.values(), default=0)
    if c.min_domains and len(counts) < c.min_domains:
        min_count = 0
    return _Constraint(c.topology_key, c.max_skew, counts, min_count, int(matcher.matches(pod.metadata.labels)))


class PodTopologySpread:
    name = NAME

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        hard = [c for c in pod.spec.topology_spread_constraints if c.when_unsatisfiable == "DoNotSchedule"]
        if not hard:
            return SKIP
        state.write(STATE_KEY, [count(c, pod, state.nodes) for c in hard])
        return SUCCESS

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        labels = node_info.node.metadata.labels if node_info.node is not None else {}
        for c in state.read(STATE_KEY):
            value = labels.get(c.key)
            if value is None:
                return Status.unschedulable(MISSING_LABEL_REASON, plugin=NAME)
            if c.counts.get(value, 0) + c.self_match - c.min_count > c.max_skew:
                return Status.unschedulable(REASON, plugin=NAME)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.ASSIGNED_POD_ADD, ClusterEvent.ASSIGNED_POD_DELETE,
                          ClusterEvent.NODE_ADD, ClusterEvent.NODE_LABEL_CHANGE})

    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> bool:
        return any(c.when_unsatisfiable == "ScheduleAnyway" for c in pod.spec.topology_spread_constraints)

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        return self.score_nodes(state, pod, [node_info])[0]

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        """Raw: matching pods in the node's domains for the ScheduleAnyway constraints (fewer is better)."""
        soft = [c for c in pod.spec.topology_spread_constraints if c.when_unsatisfiable == "ScheduleAnyway"]
        if not soft:
            return [0] * len(nodes)
        counted = [count(c, pod, state.nodes or nodes) for c in soft]
        out = []
        for n in nodes:
            labels = n.node.metadata.labels if n.node is not None else {}
            out.append(sum(c.counts.get(labels.get(c.key, ""), 0) for c in counted))
        return out

    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> None:
        if not any(c.when_unsatisfiable == "ScheduleAnyway" for c in pod.spec.topology_spread_constraints):
            scores[:] = [0] * len(scores)
            return
        low, high = min(scores, default=0), max(scores, default=0)
        for i, s in enumerate(scores):
            scores[i] = MAX_NODE_SCORE if high == low else (high - s) * MAX_NODE_SCORE // (high - low)

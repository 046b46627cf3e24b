"""PreFilter + Filter + Score: pod affinity and anti-affinity over topology domains.

A term says "put me in (or keep me out of) a domain -- the set of nodes sharing
the value of label `topologyKey`, e.g. one node for kubernetes.io/hostname --
that already runs pods matching this selector". Like kube-scheduler:
- PreFilter counts, once per cycle, which domains hold matching pods, and
  which domains are closed to the incoming pod by *existing* pods' required
  anti-affinity (symmetry: if A refuses to share a node with B, B may not join A);
- Filter is then a few set lookups per node;
- a pod whose affinity matches only itself may start a group anywhere (the
  first replica of "keep my replicas together" must be placeable);
- Score adds preferred terms' weights per domain (negative for anti-affinity).
Existing pods are only scanned when the incoming pod has terms; the symmetric
check reads `NodeInfo.pods_with_affinity`, so pods without affinity cost nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from kubelite.api import Pod
from kubelite.api.errors import BadRequest
from kubelite.api.pods import PodAffinityTerm
from kubelite.api.selectors import label_matcher
from scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    SUCCESS,
    ClusterEvent,
    CycleState,
    NodeInfo,
    Status,
)

NAME = "InterPodAffinity"
STATE_KEY = "PreFilter" + NAME
AFFINITY_REASON = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY_REASON = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_REASON = "node(s) didn't satisfy existing pods anti-affinity rules"

Domain = tuple[str, str]  # (topologyKey, value)


def term_selects(term: PodAffinityTerm, owner: Pod, candidate: Pod) -> bool:
    """Does `term` (declared by `owner`) select `candidate`? Namespaces default to the owner's."""
    if term.namespace_selector is not None and not term.namespace_selector.match_labels \
            and not term.namespace_selector.match_expressions:
        in_scope = True  # an empty namespaceSelector means every namespace
    else:
        scope = term.namespaces or [owner.metadata.namespace or "default"]
        in_scope = (candidate.metadata.namespace or "default") in scope
    if not in_scope:
        return False
    try:
        return label_matcher(term.label_selector).matches(candidate.metadata.labels)
    except BadRequest:
        return False


def _terms(pod: Pod) -> tuple[list[PodAffinityTerm], list[PodAffinityTerm]]:
    aff = pod.spec.affinity
    if aff is None:
        return [], []
    required = aff.pod_affinity.required_during_scheduling_ignored_during_execution if aff.pod_affinity else []
    anti = (aff.pod_anti_affinity.required_during_scheduling_ignored_during_execution
            if aff.pod_anti_affinity else [])
    return list(required), list(anti)


def _all_pods(nodes: Sequence[NodeInfo]) -> Iterator[tuple[NodeInfo, Pod]]:
    for n in nodes:
        if n.node is None:
            continue
        for info in n.pods.values():
            yield n, info.pod


def _domain(n: NodeInfo, key: str) -> Domain | None:
    value = n.node.metadata.labels.get(key) if n.node is not None else None
    return (key, value) if value is not None else None


@dataclass
class _State:
    forbidden: set[Domain] = field(default_factory=set)  # closed by existing pods' anti-affinity
    affinity: list[tuple[str, set[str]]] = field(default_factory=list)  # per term: domains with matches
    anti: list[tuple[str, set[str]]] = field(default_factory=list)
    affinity_waived: bool = False  # only self-matching terms and no match anywhere: start the group


class InterPodAffinity:
    name = NAME

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        required, anti = _terms(pod)
        st = _State()
        for n in state.affinity_nodes:
            if n.node is None:
                continue  # a node gone from the snapshot closes no domain
            for info in n.pods_with_affinity.values():
                for term in _terms(info.pod)[1]:
                    if term_selects(term, info.pod, pod):
                        d = _domain(n, term.topology_key)
                        if d is not None:
                            st.forbidden.add(d)
        if required or anti:
            for terms, out in ((required, st.affinity), (anti, st.anti)):
                for term in terms:
                    values = {d[1] for n, other in _all_pods(state.nodes)
                              if term_selects(term, pod, other) and (d := _domain(n, term.topology_key))}
                    out.append((term.topology_key, values))
            if required and not any(values for _, values in st.affinity):
                st.affinity_waived = all(term_selects(t, pod, pod) for t in required)
        if not required and not anti and not st.forbidden:
            return SKIP
        state.write(STATE_KEY, st)
        return SUCCESS

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        st: _State = state.read(STATE_KEY)
        labels = node_info.node.metadata.labels if node_info.node is not None else {}
        if st.forbidden and any((k, v) in st.forbidden for k, v in labels.items()):
            return Status.unschedulable(EXISTING_ANTI_REASON, plugin=NAME)
        for key, values in st.affinity:
            value = labels.get(key)
            if value is None or (value not in values and not st.affinity_waived):
                return Status.unschedulable(AFFINITY_REASON, plugin=NAME)
        for key, values in st.anti:
            value = labels.get(key)
            if value is not None and value in values:
                return Status.unschedulable(ANTI_AFFINITY_REASON, plugin=NAME)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.ASSIGNED_POD_ADD, ClusterEvent.ASSIGNED_POD_DELETE,
                          ClusterEvent.NODE_ADD, ClusterEvent.NODE_LABEL_CHANGE})

    # --- scoring: preferred terms -------------------------------------------------

    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> bool:
        aff = pod.spec.affinity
        return bool(aff and (
            (aff.pod_affinity and aff.pod_affinity.preferred_during_scheduling_ignored_during_execution)
            or (aff.pod_anti_affinity and aff.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution)))

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        return self.score_nodes(state, pod, [node_info])[0]

    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        aff = pod.spec.affinity
        weighted = []
        if aff is not None:
            if aff.pod_affinity:
                weighted += [(w.weight, w.pod_affinity_term)
                             for w in aff.pod_affinity.preferred_during_scheduling_ignored_during_execution]
            if aff.pod_anti_affinity:
                weighted += [(-w.weight, w.pod_affinity_term)
                             for w in aff.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution]
        if not weighted:
            return [0] * len(nodes)
        per_domain: defaultdict[Domain, int] = defaultdict(int)
        for n, other in _all_pods(state.nodes or nodes):
            for weight, term in weighted:
                if term_selects(term, pod, other) and (d := _domain(n, term.topology_key)):
                    per_domain[d] += weight
        keys = {term.topology_key for _, term in weighted}
        return [sum(per_domain.get(d, 0) for k in keys if (d := _domain(n, k))) for n in nodes]

    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> None:
        """Min-max to 0..MAX_NODE_SCORE (scores may be negative from anti-affinity)."""
        if not scores:
            return
        low, high = min(scores), max(scores)
        if high == low:
            scores[:] = [0] * len(scores)
            return
        for i, s in enumerate(scores):
            scores[i] = (s - low) * MAX_NODE_SCORE // (high - low)

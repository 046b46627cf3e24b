"""Node selector terms (nodeAffinity) evaluated against a Node: one definition for
the scheduler's NodeAffinity plugin and the DaemonSet controller, which must
agree on which nodes a pod may run on."""

from __future__ import annotations

from kubelite.api.core import Node
from kubelite.api.pods import NodeSelectorRequirement, NodeSelectorTerm, PodSpec


def _requirement_matches(req: NodeSelectorRequirement, value: str | None) -> bool:
    op = req.operator
    if op == "In":
        return value is not None and value in req.values
    if op == "NotIn":
        return value is None or value not in req.values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(req.values) == 1:
        try:
            have, limit = int(value), int(req.values[0])
        except ValueError:
            return False
        return have > limit if op == "Gt" else have < limit
    return False


def term_matches(term: NodeSelectorTerm, node: Node) -> bool:
    """All expressions (labels) and fields (only metadata.name exists) must match; an empty term matches nothing."""
    if not term.match_expressions and not term.match_fields:
        return False
    labels = node.metadata.labels
    for req in term.match_expressions:
        if not _requirement_matches(req, labels.get(req.key)):
            return False
    for req in term.match_fields:
        value = node.metadata.name if req.key == "metadata.name" else None
        if not _requirement_matches(req, value):
            return False
    return True


def required_affinity_matches(spec: PodSpec, node: Node) -> bool:
    """nodeSelector AND requiredDuringScheduling node affinity (its terms are ORed)."""
    labels = node.metadata.labels
    if any(labels.get(k) != v for k, v in (spec.node_selector or {}).items()):
        return False
    affinity = spec.affinity.node_affinity if spec.affinity else None
    required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
    if required is None:
        return True
    return any(term_matches(t, node) for t in required.node_selector_terms)


def preferred_affinity_score(spec: PodSpec, node: Node) -> int:
    """Sum of the weights of the preferred terms the node matches (normalized by the caller)."""
    affinity = spec.affinity.node_affinity if spec.affinity else None
    if affinity is None:
        return 0
    return sum(p.weight for p in affinity.preferred_during_scheduling_ignored_during_execution
               if term_matches(p.preference, node))

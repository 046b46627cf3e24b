"""policy/v1 PodDisruptionBudget: how many of a set of pods voluntary disruptions may take down.

Why a budget kind and not a flag on workloads: `kubectl drain` and the eviction
subresource are written against this exact object (a selector plus
minAvailable or maxUnavailable), so charts that ship a PDB protect their pods
here as on Kubernetes.
"""

from __future__ import annotations

from pydantic import Field

from kubelite.api.base import IntOrString, KubeModel
from kubelite.api.errors import BadRequest
from kubelite.api.meta import Condition, LabelSelector, Resource
from kubelite.api.selectors import label_matcher


class PodDisruptionBudgetSpec(KubeModel):
    min_available: IntOrString | None = None
    max_unavailable: IntOrString | None = None
    selector: LabelSelector | None = None
    unhealthy_pod_eviction_policy: str | None = None  # IfHealthyBudget (default) or AlwaysAllow


class PodDisruptionBudgetStatus(KubeModel):
    observed_generation: int | None = None
    disrupted_pods: dict[str, str] = Field(default_factory=dict)
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    conditions: list[Condition] = Field(default_factory=list)


class PodDisruptionBudget(Resource):
    api_version: str = "policy/v1"
    kind: str = "PodDisruptionBudget"
    spec: PodDisruptionBudgetSpec = Field(default_factory=PodDisruptionBudgetSpec)
    status: PodDisruptionBudgetStatus = Field(default_factory=PodDisruptionBudgetStatus)


def budget_selects(pdb: PodDisruptionBudget, labels: dict[str, str]) -> bool:
    """policy/v1: a missing selector selects no pods, an empty one every pod of the namespace."""
    if pdb.spec.selector is None:
        return False
    try:
        return label_matcher(pdb.spec.selector).matches(labels)
    except BadRequest:
        return False


def eviction_denial(pdb: PodDisruptionBudget) -> str | None:
    """Why an eviction of a healthy pod covered by `pdb` must be refused now (None: allowed)."""
    status = pdb.status
    if (status.observed_generation or 0) < (pdb.metadata.generation or 0):
        return f"The disruption budget {pdb.metadata.name} is still being processed by the server."
    if status.disruptions_allowed <= 0:
        return (f"The disruption budget {pdb.metadata.name} needs {status.desired_healthy} healthy pods "
                f"and has {status.current_healthy} currently")
    return None

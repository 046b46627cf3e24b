"""Namespace policy kinds (core/v1): ResourceQuota and LimitRange.

Why modelled strictly: a quota or limit field kubelite does not enforce
(`scopes`, `scopeSelector`, PVC limits) must be refused, not stored and
silently ignored, so only what the admission plugins honour is here; unknown
fields fail decoding like everywhere else.
"""

from __future__ import annotations

from pydantic import Field

from kubelite.api.base import KubeModel, Quantity
from kubelite.api.meta import Resource


class ResourceQuotaSpec(KubeModel):
    hard: dict[str, Quantity] = Field(default_factory=dict)


class ResourceQuotaStatus(KubeModel):
    hard: dict[str, Quantity] = Field(default_factory=dict)
    used: dict[str, Quantity] = Field(default_factory=dict)


class ResourceQuota(Resource):
    """Caps the total of counts and compute resources in one namespace (enforced at admission)."""

    api_version: str = "v1"
    kind: str = "ResourceQuota"
    spec: ResourceQuotaSpec = Field(default_factory=ResourceQuotaSpec)
    status: ResourceQuotaStatus = Field(default_factory=ResourceQuotaStatus)


class LimitRangeItem(KubeModel):
    type: str = ""  # Container or Pod
    max: dict[str, Quantity] = Field(default_factory=dict)
    min: dict[str, Quantity] = Field(default_factory=dict)
    default: dict[str, Quantity] = Field(default_factory=dict)
    default_request: dict[str, Quantity] = Field(default_factory=dict)
    max_limit_request_ratio: dict[str, Quantity] = Field(default_factory=dict)


class LimitRangeSpec(KubeModel):
    limits: list[LimitRangeItem] = Field(default_factory=list)


class LimitRange(Resource):
    """Per-container/pod defaults and bounds for cpu and memory in one namespace."""

    api_version: str = "v1"
    kind: str = "LimitRange"
    spec: LimitRangeSpec = Field(default_factory=LimitRangeSpec)

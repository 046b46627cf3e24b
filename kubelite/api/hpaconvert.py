"""Conversion between `autoscaling/v1` and the stored `autoscaling/v2` HorizontalPodAutoscaler.

Why JSON in, JSON out: conversion happens where bytes enter and leave the server
(registry decoding, the HTTP API's v1 paths), before any model exists.

v1 says only "CPU at N% of requests". What v2 says beyond that (other metrics,
behavior, conditions) rides in the annotations Kubernetes uses for it, so an object
read as v1 and written back as v1 keeps its v2 fields instead of losing them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from pydantic import Field

from kubelite.api.autoscaling import CrossVersionObjectReference
from kubelite.api.base import Int32, KubeModel
from kubelite.api.meta import Resource

if TYPE_CHECKING:
    from kubelite.api.registry import KindInfo

V1 = "autoscaling/v1"
V2 = "autoscaling/v2"
KIND = "HorizontalPodAutoscaler"
METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"


def is_v1(d: Any) -> bool:
    return isinstance(d, dict) and d.get("apiVersion") == V1 and d.get("kind") == KIND


def _cpu_utilization(metric: Any, section: str) -> int | None:
    """The averageUtilization of a cpu Resource metric (`section` "target" in spec, "current" in status)."""
    if not isinstance(metric, dict) or metric.get("type") != "Resource":
        return None
    resource = metric.get("resource") or {}
    if resource.get("name") != "cpu":
        return None
    value = (resource.get(section) or {}).get("averageUtilization")
    if section == "target" and (resource.get("target") or {}).get("type") != "Utilization":
        return None
    return value if isinstance(value, int) else None


def _loads(annotations: dict[str, Any], key: str) -> Any:
    text = annotations.pop(key, None)
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None  # a hand-edited annotation that is not JSON is dropped, as Kubernetes does


def to_v2(d: dict[str, Any]) -> dict[str, Any]:
    """An `autoscaling/v1` HorizontalPodAutoscaler as the stored v2 object."""
    out = copy.deepcopy(d)
    out["apiVersion"] = V2
    meta = out.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    spec = dict(out.get("spec") or {})
    metrics = _give_cpu(spec.pop("targetCPUUtilizationPercentage", None), "target",
                        {"type": "Utilization"}, _loads(annotations, METRICS_ANNOTATION))
    if metrics:
        spec["metrics"] = metrics
    behavior = _loads(annotations, BEHAVIOR_ANNOTATION)
    if isinstance(behavior, dict):
        spec["behavior"] = behavior
    out["spec"] = spec
    status = dict(out.get("status") or {})
    current_metrics = _give_cpu(status.pop("currentCPUUtilizationPercentage", None), "current", {},
                                _loads(annotations, CURRENT_METRICS_ANNOTATION))
    if current_metrics:
        status["currentMetrics"] = current_metrics
    conditions = _loads(annotations, CONDITIONS_ANNOTATION)
    if isinstance(conditions, list):
        status["conditions"] = conditions
    if status:
        out["status"] = status
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return out


def to_v1(d: dict[str, Any]) -> dict[str, Any]:
    """The stored v2 HorizontalPodAutoscaler as `autoscaling/v1` (what v1 cannot say goes to annotations)."""
    out = copy.deepcopy(d)
    out["apiVersion"] = V1
    meta = out.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    spec = dict(out.get("spec") or {})
    others = _take_cpu(spec.pop("metrics", None) or [], "target", spec, "targetCPUUtilizationPercentage")
    if others:
        annotations[METRICS_ANNOTATION] = json.dumps(others)
    behavior = spec.pop("behavior", None)
    if behavior:
        annotations[BEHAVIOR_ANNOTATION] = json.dumps(behavior)
    out["spec"] = spec
    status = dict(out.get("status") or {})
    current_others = _take_cpu(status.pop("currentMetrics", None) or [], "current", status,
                               "currentCPUUtilizationPercentage")
    if current_others:
        annotations[CURRENT_METRICS_ANNOTATION] = json.dumps(current_others)
    conditions = status.pop("conditions", None)
    if conditions:
        annotations[CONDITIONS_ANNOTATION] = json.dumps(conditions)
    out["status"] = status
    if annotations:
        meta["annotations"] = annotations
    return out


def list_to_v1(d: dict[str, Any]) -> dict[str, Any]:
    """A HorizontalPodAutoscalerList, or one object, as v1 (anything else unchanged)."""
    if d.get("kind") == KIND and d.get("apiVersion") == V2:
        return to_v1(d)
    if d.get("kind") == f"{KIND}List":
        return {**d, "apiVersion": V1, "items": [to_v1(i) for i in d.get("items") or []]}
    return d


# --- the v1 shape, for its OpenAPI document and discovery ------------------------------


class HorizontalPodAutoscalerSpecV1(KubeModel):
    scale_target_ref: CrossVersionObjectReference = Field(default_factory=CrossVersionObjectReference)
    min_replicas: Int32 | None = None
    max_replicas: Int32 = 0
    target_cpu_utilization_percentage: Int32 | None = Field(default=None, alias="targetCPUUtilizationPercentage")


class HorizontalPodAutoscalerStatusV1(KubeModel):
    observed_generation: int | None = None
    last_scale_time: str | None = None
    current_replicas: Int32 = 0
    desired_replicas: Int32 = 0
    current_cpu_utilization_percentage: Int32 | None = Field(default=None,
                                                             alias="currentCPUUtilizationPercentage")


class HorizontalPodAutoscalerV1(Resource):
    """Only describes the v1 shape (OpenAPI, discovery); objects are decoded as v2 (`to_v2`)."""

    api_version: str = V1
    kind: str = KIND
    spec: HorizontalPodAutoscalerSpecV1 = Field(default_factory=HorizontalPodAutoscalerSpecV1)
    status: HorizontalPodAutoscalerStatusV1 = Field(default_factory=HorizontalPodAutoscalerStatusV1)


def v1_kind() -> KindInfo:
    """The registry's HorizontalPodAutoscaler as served at `autoscaling/v1` (same resource and storage)."""
    from kubelite.api import registry  # late: the registry decodes v1 through this module

    return dataclasses.replace(registry.lookup("horizontalpodautoscalers"), api_version=V1,
                               load_model=lambda: HorizontalPodAutoscalerV1)


def _take_cpu(metrics: list[Any], which: str, into: dict[str, Any], key: str) -> list[Any]:
    """Move the first CPU-utilization metric into v1's single percentage field `key`; return the
    metrics v1 cannot express (kept in an annotation, so a v1 round trip loses nothing)."""
    others = []
    for m in metrics:
        cpu = _cpu_utilization(m, which)
        if cpu is not None and key not in into:
            into[key] = cpu
        else:
            others.append(m)
    return others


def _give_cpu(percent: Any, which: str, kind: dict[str, Any], kept: Any) -> list[Any]:
    """The inverse of `_take_cpu`: v1's percentage as a v2 CPU Resource metric (`which` is
    "target" or "current"), followed by the metrics kept in the annotation."""
    metrics: list[Any] = []
    if percent is not None:
        metrics.append({"type": "Resource", "resource": {
            "name": "cpu", which: {**kind, "averageUtilization": percent}}})
    if isinstance(kept, list):
        metrics.extend(kept)
    return metrics

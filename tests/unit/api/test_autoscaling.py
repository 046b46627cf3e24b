"""HorizontalPodAutoscaler: defaults, validation naming fields, v1 <-> v2 conversion, the table row."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import registry
from kubelite.api.autoscaling import HorizontalPodAutoscaler
from kubelite.api.columns import table_for
from kubelite.api.defaults import apply_defaults
from kubelite.api.errors import BadRequest, Invalid
from kubelite.api.hpaconvert import BEHAVIOR_ANNOTATION, METRICS_ANNOTATION, to_v1, to_v2
from kubelite.api.validation import validate

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def _v2(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "d"}, "spec": {"scaleTargetRef": REF, "maxReplicas": 5, **spec}}


def _decoded(d: dict[str, Any]) -> HorizontalPodAutoscaler:
    obj = registry.decode(d)
    assert isinstance(obj, HorizontalPodAutoscaler)
    apply_defaults(obj)
    return obj


def _fields(d: dict[str, Any]) -> list[str]:
    return [c.field for c in validate(_decoded(d))]


def _cpu(percent: int) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                      "averageUtilization": percent}}}


def test_defaults_min_1_and_cpu_80_percent_and_completes_a_given_behavior() -> None:
    obj = _decoded(_v2(behavior={"scaleDown": {"stabilizationWindowSeconds": 10}}))
    assert obj.spec.min_replicas == 1
    assert obj.spec.metrics[0].to_dict() == _cpu(80)
    behavior = obj.spec.behavior
    assert behavior is not None and behavior.scale_down is not None and behavior.scale_up is not None
    assert behavior.scale_down.stabilization_window_seconds == 10
    assert [p.to_dict() for p in behavior.scale_down.policies] == [{"type": "Percent", "value": 100,
                                                                    "periodSeconds": 15}]
    assert behavior.scale_up.stabilization_window_seconds == 0 and len(behavior.scale_up.policies) == 2
    assert _decoded(_v2()).spec.behavior is None  # absent stays absent


@pytest.mark.parametrize(("metric", "field"), [
    ({"type": "Pods", "pods": {"metric": {"name": "qps"}}}, "spec.metrics[0].type"),
    ({"type": "External", "external": {}}, "spec.metrics[0].type"),
    ({"type": "Object", "object": {}}, "spec.metrics[0].type"),
    ({"type": "Resource", "resource": {"name": "gpu", "target": {"type": "Utilization", "averageUtilization": 5}}},
     "spec.metrics[0].resource.name"),
    ({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}},
     "spec.metrics[0].resource.target.averageUtilization"),
    ({"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "-1"}}},
     "spec.metrics[0].resource.target.averageValue"),
    ({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Value", "value": "1"}}},
     "spec.metrics[0].resource.target.type"),
    ({"type": "Resource"}, "spec.metrics[0].resource"),
])
def test_metrics_kubelite_cannot_honour_are_refused_by_field(metric: dict[str, Any], field: str) -> None:
    assert _fields(_v2(metrics=[metric])) == [field]


def test_unsupported_metric_message_says_why() -> None:
    causes = validate(_decoded(_v2(metrics=[{"type": "Pods", "pods": {}}])))
    assert "only Resource metrics" in causes[0].message


def test_bounds_target_and_behavior_are_checked() -> None:
    assert _fields(_v2(minReplicas=0)) == ["spec.minReplicas"]
    assert _fields(_v2(minReplicas=6)) == ["spec.maxReplicas"]
    assert _fields(_v2(scaleTargetRef={"kind": "DaemonSet", "name": "x"})) == ["spec.scaleTargetRef.kind"]
    assert _fields(_v2(scaleTargetRef={"kind": "Deployment"})) == ["spec.scaleTargetRef.name"]
    bad = {"scaleUp": {"selectPolicy": "Most", "stabilizationWindowSeconds": 4000,
                       "policies": [{"type": "Pods", "value": 0, "periodSeconds": 0}, {"type": "X", "value": 1,
                                                                                    "periodSeconds": 1}]}}
    assert _fields(_v2(behavior=bad)) == [
        "spec.behavior.scaleUp.stabilizationWindowSeconds", "spec.behavior.scaleUp.selectPolicy",
        "spec.behavior.scaleUp.policies[0].value", "spec.behavior.scaleUp.policies[0].periodSeconds",
        "spec.behavior.scaleUp.policies[1].type"]


def test_unknown_fields_are_refused_not_dropped() -> None:
    with pytest.raises(Invalid, match="spec.targetCPU"):
        registry.decode(_v2(targetCPU=5))


def test_v1_is_decoded_as_v2_and_back() -> None:
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
          "spec": {"scaleTargetRef": REF, "minReplicas": 2, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60},
          "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 90}}
    obj = _decoded(v1)
    assert obj.api_version == "autoscaling/v2" and obj.spec.metrics[0].to_dict() == _cpu(60)
    assert obj.status.current_metrics[0].to_dict() == {
        "type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 90}}}
    back = to_v1(obj.to_dict())
    assert back["spec"]["targetCPUUtilizationPercentage"] == 60 and "metrics" not in back["spec"]
    assert back["status"]["currentCPUUtilizationPercentage"] == 90
    assert "annotations" not in back["metadata"]


def test_what_v1_cannot_say_survives_a_round_trip_in_annotations() -> None:
    memory = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                           "averageValue": "100Mi"}}}
    v2 = _v2(metrics=[_cpu(50), memory], behavior={"scaleDown": {"stabilizationWindowSeconds": 5}})
    v1 = to_v1(v2)
    assert v1["apiVersion"] == "autoscaling/v1" and v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert set(v1["metadata"]["annotations"]) == {METRICS_ANNOTATION, BEHAVIOR_ANNOTATION}
    again = to_v2(v1)
    assert again["spec"]["metrics"] == [_cpu(50), memory]
    assert again["spec"]["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 5}}
    assert "annotations" not in again["metadata"]


def test_wrong_version_of_the_kind_is_a_clear_error() -> None:
    with pytest.raises(BadRequest, match='did you mean apiVersion "autoscaling/v2"'):
        registry.decode({**_v2(), "apiVersion": "autoscaling/v2beta1"})


def test_table_shows_reference_targets_and_replicas() -> None:
    hpa = _v2(minReplicas=1, metrics=[_cpu(50)])
    hpa["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    header, rows = table_for("HorizontalPodAutoscaler", [hpa])
    assert header == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert rows[0][:6] == ["web", "Deployment/web", "cpu: <unknown>/50%", "1", "5", "0"]
    hpa["status"] = {"currentReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45}}}]}
    assert table_for("HorizontalPodAutoscaler", [hpa])[1][0][2:6] == ["cpu: 45%/50%", "1", "5", "3"]

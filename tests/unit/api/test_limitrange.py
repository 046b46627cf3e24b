"""LimitRange: its own defaults, validation, and what it does to a pod."""

from __future__ import annotations

from typing import Any

from kubelite.api import Pod
from kubelite.api.defaults import apply_defaults as default_object
from kubelite.api.limitrange import apply_defaults, violations
from kubelite.api.namespacepolicy import LimitRange
from kubelite.api.validation import validate


def limit_range(*items: dict[str, Any]) -> LimitRange:
    lr = LimitRange.from_dict({"metadata": {"name": "lr"}, "spec": {"limits": list(items)}})
    default_object(lr)
    return lr


def pod(**resources: Any) -> Pod:
    return Pod.from_dict({"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "web", "image": "x", "resources": resources}]}})


def test_item_defaults_follow_kubernetes() -> None:
    lr = limit_range({"type": "Container", "max": {"cpu": "2"}, "default": {"memory": "1Gi"}})
    item = lr.spec.limits[0]
    assert item.default == {"memory": "1Gi", "cpu": "2"}, "max is the default limit when none is given"
    assert item.default_request == {"memory": "1Gi", "cpu": "2"}, "the default limit is the default request"


def test_defaults_fill_only_what_a_container_lacks() -> None:
    lr = limit_range({"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                      "defaultRequest": {"cpu": "100m"}})
    p = pod(requests={"memory": "64Mi"})
    assert apply_defaults(p, [lr])
    res = p.spec.containers[0].resources
    assert res.limits == {"cpu": "500m", "memory": "256Mi"}
    assert res.requests == {"memory": "64Mi", "cpu": "100m"}
    assert not apply_defaults(p, [lr]), "idempotent"


def test_violations_use_kubernetes_wording_and_name_the_container() -> None:
    lr = limit_range({"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "64Mi"},
                      "maxLimitRequestRatio": {"cpu": "4"}})
    assert violations(pod(limits={"cpu": "2"}, requests={"cpu": "1", "memory": "64Mi"}), [lr]) == [
        'maximum cpu usage per Container is 1, but limit is 2 (container "web")']
    assert violations(pod(requests={"memory": "1Mi", "cpu": "100m"}, limits={"cpu": "1"}), [lr]) == [
        'minimum memory usage per Container is 64Mi, but request is 1Mi (container "web")',
        'cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000 (container "web")']
    assert violations(pod(), [limit_range({"type": "Container", "min": {"cpu": "1"}})]) == [
        'minimum cpu usage per Container is 1.  No request is specified (container "web")']


def test_pod_items_bound_the_sum_of_containers() -> None:
    lr = limit_range({"type": "Pod", "max": {"memory": "1Gi"}})
    p = Pod.from_dict({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "image": "x", "resources": {"limits": {"memory": "768Mi"}}},
        {"name": "b", "image": "x", "resources": {"limits": {"memory": "512Mi"}}}]}})
    assert violations(p, [lr]) == ["maximum memory usage per Pod is 1Gi, but limit is 1280Mi"]


def test_validation_refuses_inverted_bounds_and_unknown_things() -> None:
    causes = validate(limit_range(
        {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}},
        {"type": "Pod", "default": {"cpu": "1"}},
        {"type": "PersistentVolumeClaim"},
        {"type": "Container", "max": {"nvidia.com/gpu": "1"}, "maxLimitRequestRatio": {"memory": "0.5"}},
    ))
    fields = [c.field for c in causes]
    assert "spec.limits[0].min[cpu]" in fields
    assert "spec.limits[1].default" in fields
    assert "spec.limits[2].type" in fields
    assert "spec.limits[3].max" in fields and "spec.limits[3].maxLimitRequestRatio[memory]" in fields

"""ResourceQuota arithmetic: what objects charge, in exact units, and Kubernetes' messages."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import ConfigMap, Deployment, Pod, Service
from kubelite.api.errors import Invalid
from kubelite.api.namespacepolicy import ResourceQuota
from kubelite.api.quota import (
    exceeded,
    format_amount,
    hard_amounts,
    missing_specs,
    name_error,
    parse_amount,
    status_strings,
    total,
    usage,
    used_amounts,
)
from kubelite.api.validation import validate


def pod(*resources: dict[str, Any], phase: str | None = None, init: dict[str, Any] | None = None) -> Pod:
    containers = [{"name": f"c{i}", "image": "x", "resources": r} for i, r in enumerate(resources)]
    spec: dict[str, Any] = {"containers": containers}
    if init is not None:
        spec["initContainers"] = [{"name": "init", "image": "x", "resources": init}]
    body: dict[str, Any] = {"metadata": {"name": "p"}, "spec": spec}
    if phase:
        body["status"] = {"phase": phase}
    return Pod.from_dict(body)


def quota(hard: dict[str, str], used: dict[str, str] | None = None) -> ResourceQuota:
    body: dict[str, Any] = {"metadata": {"name": "q"}, "spec": {"hard": hard}}
    if used is not None:
        body["status"] = {"hard": hard, "used": used}
    return ResourceQuota.from_dict(body)


def test_pod_usage_adds_containers_and_takes_the_init_peak() -> None:
    p = pod({"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
            {"requests": {"cpu": "0.5"}, "limits": {"cpu": "1"}}, init={"requests": {"cpu": "2"}})
    u = usage("pods", p)
    assert u["pods"] == 1 and u["count/pods"] == 1
    assert (u["requests.cpu"], u["cpu"]) == (2000, 2000), "the init container's 2 cpu exceed 250m+500m"
    assert u["requests.memory"] == u["memory"] == 64 * 2**20
    assert (u["limits.cpu"], u["limits.memory"]) == (1500, 128 * 2**20)


def test_terminal_pods_charge_nothing() -> None:
    assert usage("pods", pod({}, phase="Succeeded")) == {}
    assert usage("pods", pod({}, phase="Failed")) == {}
    assert usage("pods", pod({}, phase="Running"))["pods"] == 1


def test_object_counts_and_service_ports() -> None:
    assert usage("configmaps", ConfigMap.from_dict({"metadata": {"name": "c"}})) == {
        "count/configmaps": 1, "configmaps": 1}
    assert usage("deployments", Deployment.from_dict({"metadata": {"name": "d"}})) == {"count/deployments.apps": 1}
    svc = Service.from_dict({"metadata": {"name": "s"}, "spec": {"type": "NodePort",
                                                                 "ports": [{"port": 80}, {"port": 81}]}})
    u = usage("services", svc)
    assert (u["services"], u["services.nodeports"], u["services.loadbalancers"]) == (1, 2, 0)


def test_amounts_parse_and_print_in_their_units() -> None:
    assert parse_amount("requests.cpu", "1.5") == 1500 and format_amount("cpu", 1500) == "1500m"
    assert format_amount("limits.cpu", 2000) == "2"
    assert parse_amount("memory", "1Gi") == 2**30 and format_amount("requests.memory", 2**30) == "1Gi"
    assert parse_amount("pods", "10") == 10 and format_amount("count/jobs.batch", 3) == "3"
    assert total([{"pods": 1, "cpu": 5}, {"pods": 1}], ["pods", "secrets"]) == {"pods": 2, "secrets": 0}
    assert status_strings({"pods": 2, "limits.memory": 3 * 2**20}) == {"limits.memory": "3Mi", "pods": "2"}


def test_used_is_unknown_until_the_status_covers_the_spec() -> None:
    assert used_amounts(quota({"pods": "3"})) is None
    assert used_amounts(quota({"pods": "3", "cpu": "1"}, {"pods": "1"})) is None
    assert used_amounts(quota({"pods": "3", "cpu": "1"}, {"pods": "1", "cpu": "200m"})) == {"pods": 1, "cpu": 200}
    assert hard_amounts(quota({"requests.memory": "1Gi"})) == {"requests.memory": 2**30}


def test_exceeded_names_only_what_does_not_fit() -> None:
    hard, used = {"pods": 3, "requests.cpu": 1000}, {"pods": 3, "requests.cpu": 200}
    assert exceeded("q", hard, used, {"pods": 1, "requests.cpu": 100}) == (
        "exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3")
    assert exceeded("q", hard, {"pods": 1, "requests.cpu": 200}, {"pods": 1, "requests.cpu": 900}) == (
        "exceeded quota: q, requested: requests.cpu=900m, used: requests.cpu=200m, limited: requests.cpu=1")
    assert exceeded("q", hard, {"pods": 2, "requests.cpu": 0}, {"pods": 1, "requests.cpu": 1000}) is None


def test_missing_specs_lists_each_resource_and_container() -> None:
    q = quota({"requests.cpu": "1", "limits.memory": "1Gi", "pods": "3"})
    p = pod({"requests": {"cpu": "1"}}, {})
    assert missing_specs(q, p) == "must specify limits.memory for: c0,c1; requests.cpu for: c1"
    assert missing_specs(quota({"pods": "1"}), p) is None


def test_quota_names_kubelite_cannot_enforce_are_refused() -> None:
    for good in ("pods", "requests.cpu", "memory", "count/deployments.apps", "count/pods", "services.nodeports"):
        assert name_error(good) is None, good
    for bad in ("persistentvolumeclaims", "count/widgets", "count/deployments", "requests.nvidia.com/gpu"):
        assert name_error(bad) is not None, bad
    causes = validate(quota({"pods": "many", "count/foo": "1", "cpu": "-1"}))
    assert sorted(c.field for c in causes) == ["spec.hard[count/foo]", "spec.hard[cpu]", "spec.hard[pods]"]


@pytest.mark.parametrize("field", ["scopes", "scopeSelector"])
def test_quota_scopes_are_refused_not_ignored(field: str) -> None:
    with pytest.raises(Invalid, match="Unsupported field"):
        ResourceQuota.from_dict({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1"}, field: []}})

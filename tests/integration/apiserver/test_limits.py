"""Limits a user meets through a real apiserver over gRPC: numeric bounds, sizes, nesting,
ResourceQuota charges (race-safe) and LimitRange defaults and bounds."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from apiserver.storage import MAX_OBJECT_BYTES
from kubelite.api import ConfigMap, Pod
from kubelite.api.errors import ApiError, BadRequest, Forbidden, Invalid
from kubelite.api.namespacepolicy import ResourceQuota
from kubelite.pb.kubelite import api_pb2
from tests.integration.controlplane import ControlPlane
from tests.polling import eventually

pytestmark = pytest.mark.integration


def pod(name: str, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox"}
    if resources is not None:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}


def deployment(replicas: Any) -> dict[str, Any]:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}


async def test_int32_fields_are_bounded_naming_the_field(control_plane: ControlPlane) -> None:
    c = control_plane.client
    for replicas in (2**31, 2**63, 1e12):
        with pytest.raises(Invalid) as err:
            await c.create_raw("deployments", deployment(replicas))
        assert "spec.replicas: Invalid value: " in err.value.message
        assert "must be less than or equal to 2147483647" in err.value.message
        assert err.value.causes[0].field == "spec.replicas"
    created = await c.create_raw("deployments", deployment(2**31 - 1), dry_run=True)
    assert created["spec"]["replicas"] == 2**31 - 1


async def test_sizes_and_nesting_are_refused_with_kubernetes_errors(control_plane: ControlPlane) -> None:
    c = control_plane.client
    with pytest.raises(Invalid, match="must have at most 1048576 bytes"):
        await c.create(ConfigMap.from_dict({"metadata": {"name": "big"}, "data": {"k": "x" * (1024 * 1024 + 1)}}))
    with pytest.raises(Invalid, match=r"metadata.annotations: Too long: must have at most 262144 bytes"):
        await c.create(ConfigMap.from_dict({"metadata": {"name": "ann", "annotations": {"a": "x" * 262144}}}))
    wide = pod("wide")
    wide["spec"]["containers"][0]["env"] = [{"name": f"V{i}", "value": "x" * 200_000} for i in range(9)]
    with pytest.raises(Invalid, match='Pod "wide" is invalid: Too long: the stored object must have at most 1568768'):
        await c.create_raw("pods", wide)  # 1.8 MB: under the 3 MiB request limit, over what may be stored
    with pytest.raises(ApiError) as err:  # 3 MiB and more: refused before decoding, not RESOURCE_EXHAUSTED
        await c.create_raw("configmaps", {"metadata": {"name": "huge"}, "data": {"k": "x" * (3 * 1024 * 1024)}})
    assert (err.value.code, err.value.reason) == (413, "RequestEntityTooLarge")
    deep = b'{"metadata":{"name":"d"},"data":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}"
    with pytest.raises(BadRequest, match="nested too deeply"):
        await c.transport.unary("Create", api_pb2.CreateRequest(resource="configmaps", namespace="default", json=deep))


async def quota(c: Any, hard: dict[str, str], name: str = "q") -> None:
    await c.create(ResourceQuota.from_dict({"metadata": {"name": name}, "spec": {"hard": hard}}))


async def test_quota_stops_the_fourth_pod_and_tracks_usage(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await quota(c, {"pods": "3", "count/configmaps": "1"})
    for i in range(3):
        await c.create_raw("pods", pod(f"p{i}"))
    with pytest.raises(Forbidden) as err:
        await c.create_raw("pods", pod("p3"))
    assert err.value.code == 403
    assert err.value.message == ('pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=3, '
                                 "limited: pods=3")
    stored = await c.get(ResourceQuota, "q")
    assert stored.status.used == {"pods": "3", "count/configmaps": "0"}
    assert stored.status.hard == {"pods": "3", "count/configmaps": "1"}
    await c.create(ConfigMap.from_dict({"metadata": {"name": "one"}}))
    with pytest.raises(Forbidden, match="exceeded quota: q, requested: count/configmaps=1"):
        await c.create(ConfigMap.from_dict({"metadata": {"name": "two"}}))


async def test_concurrent_creates_never_share_the_last_slot(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await quota(c, {"pods": "2"})
    results = await asyncio.gather(*(c.create_raw("pods", pod(f"r{i}")) for i in range(8)), return_exceptions=True)
    created = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Forbidden)]
    assert (len(created), len(refused)) == (2, 6), results
    assert (await c.get(ResourceQuota, "q")).status.used == {"pods": "2"}


async def test_compute_quota_requires_requests_and_charges_them(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await quota(c, {"requests.cpu": "1", "limits.memory": "1Gi"})
    with pytest.raises(Forbidden) as err:
        await c.create_raw("pods", pod("bare"))
    assert err.value.message == ('pods "bare" is forbidden: failed quota: q: must specify limits.memory for: main; '
                                 "requests.cpu for: main")
    sized = {"requests": {"cpu": "600m"}, "limits": {"memory": "512Mi"}}
    await c.create_raw("pods", pod("a", sized))
    with pytest.raises(Forbidden) as err:
        await c.create_raw("pods", pod("b", sized))
    assert "exceeded quota: q, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1" \
        in err.value.message
    assert (await c.get(ResourceQuota, "q")).status.used == {"limits.memory": "512Mi", "requests.cpu": "600m"}


async def test_unsupported_quota_names_are_refused(control_plane: ControlPlane) -> None:
    with pytest.raises(Invalid, match=r"spec.hard\[persistentvolumeclaims\]"):
        await quota(control_plane.client, {"persistentvolumeclaims": "1"})
    with pytest.raises(Invalid, match="Unsupported field"):
        await control_plane.client.create_raw("resourcequotas", {
            "metadata": {"name": "scoped"}, "spec": {"hard": {"pods": "1"}, "scopes": ["BestEffort"]}})


async def test_limit_range_defaults_and_bounds(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await c.create_raw("limitranges", {"metadata": {"name": "lr"}, "spec": {"limits": [
        {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": {"cpu": "100m"},
         "max": {"cpu": "1"}, "min": {"memory": "64Mi"}, "maxLimitRequestRatio": {"cpu": "10"}}]}})
    created = Pod.from_dict(await c.create_raw("pods", pod("plain")))
    res = created.spec.containers[0].resources
    assert res.limits == {"cpu": "500m", "memory": "256Mi"}
    assert res.requests == {"cpu": "100m", "memory": "256Mi"}, "defaultRequest defaults to the default limit"
    with pytest.raises(Forbidden) as err:
        await c.create_raw("pods", pod("greedy", {"limits": {"cpu": "2"}}))
    assert err.value.message == ('pods "greedy" is forbidden: maximum cpu usage per Container is 1, but limit is 2 '
                                 '(container "main")')
    with pytest.raises(Forbidden, match=r"cpu max limit to request ratio per Container is 10, but provided ratio "
                                        r"is 20\.000000"):
        await c.create_raw("pods", pod("skewed", {"requests": {"cpu": "50m"}, "limits": {"cpu": "1"}}))
    with pytest.raises(Forbidden, match="minimum memory usage per Container is 64Mi, but request is 32Mi"):
        await c.create_raw("pods", pod("tiny", {"requests": {"memory": "32Mi"}}))
    with pytest.raises(Invalid, match=r"spec.limits\[0\].min\[cpu\]"):
        await c.create_raw("limitranges", {"metadata": {"name": "bad"}, "spec": {"limits": [
            {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}})


async def test_a_burst_of_creates_is_charged_one_by_one_without_spurious_conflicts(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await quota(c, {"pods": "40"})
    results = await asyncio.gather(*(c.create_raw("pods", pod(f"b{i}")) for i in range(48)), return_exceptions=True)
    created = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Forbidden) and "exceeded quota" in r.message]
    assert (len(created), len(refused)) == (40, 8), [r for r in results if not isinstance(r, dict)][:3]
    assert (await c.get(ResourceQuota, "q")).status.used == {"pods": "40"}


async def test_limit_range_defaults_are_what_a_compute_quota_charges(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await c.create_raw("limitranges", {"metadata": {"name": "lr"}, "spec": {"limits": [
        {"type": "Container", "defaultRequest": {"cpu": "250m"}, "default": {"cpu": "500m"}}]}})
    await quota(c, {"requests.cpu": "500m", "limits.cpu": "1"})
    await c.create_raw("pods", pod("one"))  # no resources: the LimitRange fills them in before the quota looks
    await c.create_raw("pods", pod("two"))
    with pytest.raises(Forbidden, match="exceeded quota: q, requested: limits.cpu=500m,requests.cpu=250m, "
                                        "used: limits.cpu=1,requests.cpu=500m, limited: limits.cpu=1,requests.cpu=500m"):
        await c.create_raw("pods", pod("three"))


async def test_turning_a_service_into_node_ports_is_charged(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await quota(c, {"services.nodeports": "1", "services": "5"})
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}}
    created = await c.create_raw("services", svc)
    created["spec"]["type"] = "NodePort"
    with pytest.raises(Forbidden, match='services "web" is forbidden: exceeded quota: q, requested: '
                                        "services.nodeports=2, used: services.nodeports=0, limited: "
                                        "services.nodeports=1"):
        await c.update_raw("services", created)
    await _quota_used(c, {"services": "1", "services.nodeports": "0"})
    created["spec"]["ports"] = created["spec"]["ports"][:1]
    await c.update_raw("services", created)  # one node port fits
    await _quota_used(c, {"services": "1", "services.nodeports": "1"})


async def _quota_used(c: Any, expected: dict[str, str]) -> None:
    """The quota's status.used reaches `expected` (a loaded machine may be a moment behind)."""
    async def probe() -> bool:
        return (await c.get(ResourceQuota, "q")).status.used == expected
    await eventually(probe, f"quota usage {expected}")


async def test_an_object_just_under_the_limit_is_stored(control_plane: ControlPlane) -> None:
    """The store's own request limit never turns an object the apiserver accepted into a 500."""
    c = control_plane.client
    body = pod("edge")
    body["spec"]["containers"][0]["env"] = [{"name": "V", "value": "x" * 1000}]
    probe = await c.create_raw("pods", body, dry_run=True)
    overhead = len(json.dumps(probe, separators=(",", ":"))) - 1000
    body["spec"]["containers"][0]["env"][0]["value"] = "x" * (MAX_OBJECT_BYTES - overhead - 64)
    stored = await c.create_raw("pods", body)
    assert stored["metadata"]["name"] == "edge"

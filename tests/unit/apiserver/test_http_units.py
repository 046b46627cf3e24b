"""Pure parts of the HTTP API: request attributes, patches, tables, discovery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apiserver.http import patch as p
from apiserver.http.discovery import resource_list, wants_aggregated
from apiserver.http.errors import UnsupportedMediaType
from apiserver.http.routing import request_info, resolve_kind
from apiserver.http.tables import table, wants_table
from kubelite.api.errors import BadRequest, Invalid, NotFound


@pytest.mark.parametrize(("method", "path", "query", "want"), [
    ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "", "v1", "pods", "", "ns", "")),
    ("GET", "/api/v1/pods", {"watch": "1"}, ("watch", "", "v1", "pods", "", "", "")),
    ("GET", "/api/v1/watch/namespaces/ns/pods", {}, ("watch", "", "v1", "pods", "", "ns", "")),
    ("PUT", "/apis/apps/v1/namespaces/ns/deployments/web/status", {}, ("update", "apps", "v1", "deployments",
                                                                        "status", "ns", "web")),
    ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/web/scale", {}, ("patch", "apps", "v1", "deployments",
                                                                         "scale", "ns", "web")),
    ("GET", "/api/v1/namespaces/ns", {}, ("get", "", "v1", "namespaces", "", "ns", "ns")),
    ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "", "v1", "namespaces", "finalize", "ns", "ns")),
    ("POST", "/api/v1/namespaces", {}, ("create", "", "v1", "namespaces", "", "", "")),
    ("DELETE", "/api/v1/namespaces/ns/configmaps", {}, ("deletecollection", "", "v1", "configmaps", "", "ns", "")),
])
def test_request_attributes(method: str, path: str, query: dict[str, str],
                            want: tuple[str, ...]) -> None:
    info = request_info(method, path, query)
    assert info.is_resource_request
    assert (info.verb, info.api_group, info.api_version, info.resource, info.subresource, info.namespace,
            info.name) == want


def test_nonresource_and_unknown_paths() -> None:
    for path in ("/version", "/api", "/api/v1", "/apis/apps/v1", "/openapi/v3"):
        info = request_info("GET", path, {})
        assert not info.is_resource_request and info.verb == "get"
    with pytest.raises(NotFound):
        resolve_kind(request_info("GET", "/apis/apps/v1/namespaces/ns/pods", {}))
    with pytest.raises(NotFound):
        resolve_kind(request_info("GET", "/api/v1/namespaces/ns/configmaps/x/scale", {}))
    with pytest.raises(NotFound):  # a namespaced object needs its namespace
        resolve_kind(request_info("GET", "/api/v1/pods/p", {}))
    assert resolve_kind(request_info("GET", "/api/v1/pods", {})).kind == "Pod"


def test_merge_patch_rfc7386() -> None:
    assert p.merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == {
        "a": {"c": 2, "d": 3}, "l": [2]}


def test_json_patch_errors() -> None:
    assert p.json_patch({"a": 1}, [{"op": "add", "path": "/b", "value": 2}]) == {"a": 1, "b": 2}
    with pytest.raises(Invalid):
        p.json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    with pytest.raises(BadRequest):
        p.json_patch({"a": 1}, {"op": "add"})


def test_strategic_merge_lists_by_key_and_directives() -> None:
    current = {"spec": {"containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}], "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "b:1"}],
        "tolerations": [{"key": "k"}], "volumes": [{"name": "v", "emptyDir": {}}]},
        "metadata": {"finalizers": ["f1"], "labels": {"x": "1"}}}
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
            "containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}],
                            "ports": [{"containerPort": 81}]},
                           {"name": "c", "image": "c:1"}],
            "tolerations": [{"key": "other"}],
            "volumes": [{"name": "v", "$patch": "delete"}],
        },
        "metadata": {"finalizers": ["f2"], "labels": {"x": None, "y": "2"}},
    }
    out = p.strategic_merge(current, patch)
    assert [c["name"] for c in out["spec"]["containers"]] == ["b", "a", "c"]
    a = out["spec"]["containers"][1]
    assert a["image"] == "a:2"
    assert a["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert a["ports"] == [{"containerPort": 80}, {"containerPort": 81}]
    assert out["spec"]["tolerations"] == [{"key": "other"}]  # no merge key: replaced
    assert out["spec"]["volumes"] == []
    assert out["metadata"] == {"finalizers": ["f1", "f2"], "labels": {"y": "2"}}
    replaced = p.strategic_merge(current, {"spec": {"containers": [{"$patch": "replace"}, {"name": "z"}]}})
    assert replaced["spec"]["containers"] == [{"name": "z"}]
    assert p.strategic_merge({"s": {"a": 1, "b": 2}}, {"s": {"$patch": "replace", "c": 3}}) == {"s": {"c": 3}}
    kept = p.strategic_merge({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
                             {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}})
    assert kept == {"strategy": {"type": "Recreate"}}
    assert p.strategic_merge({"args": ["a", "b"]}, {"$deleteFromPrimitiveList/args": ["a"]}) == {"args": ["b"]}
    svc = p.strategic_merge({"ports": [{"port": 80, "name": "h"}]}, {"ports": [{"port": 80, "name": "web"}]})
    assert svc == {"ports": [{"port": 80, "name": "web"}]}


def test_patch_types() -> None:
    with pytest.raises(UnsupportedMediaType):
        p.patch_function("application/apply-patch+yaml", {})
    with pytest.raises(UnsupportedMediaType):
        p.patch_function("text/plain", {})
    fn = p.patch_function("application/merge-patch+json; charset=utf-8", {"a": None})
    assert fn({"a": 1, "b": 2}) == {"b": 2}


def test_table_and_accept_negotiation() -> None:
    assert wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert not wants_table("application/json")
    assert wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
    now = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
    pod = {"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"a": "b"}},
           "spec": {"containers": [{"name": "c"}], "nodeName": "n1"}, "status": {"phase": "Running"}}
    t = table("Pod", [pod], now=now)
    assert [(c["name"], c["priority"]) for c in t["columnDefinitions"]][:5] == [
        ("NAME", 0), ("READY", 0), ("STATUS", 0), ("RESTARTS", 0), ("AGE", 0)]
    assert t["rows"][0]["cells"] == ["p", "0/1", "Running", "0", "10m", "<none>", "n1"]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert "object" not in table("Pod", [pod], include_object="None", now=now)["rows"][0]


def test_discovery_lists_subresources() -> None:
    doc = resource_list("apps/v1", lambda info: True)
    assert doc is not None
    names = {r["name"]: r for r in doc["resources"]}
    assert names["deployments/scale"]["group"] == "autoscaling"
    assert names["statefulsets"]["shortNames"] == ["sts"]
    assert resource_list("nope/v1", lambda info: True) is None

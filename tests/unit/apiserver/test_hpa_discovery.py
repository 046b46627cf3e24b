"""autoscaling is served at v2 (stored, preferred) and v1 (converted): discovery and OpenAPI say both."""

from __future__ import annotations

import json

from apiserver.http import discovery, openapi


def test_one_group_two_versions_v2_preferred() -> None:
    groups = [g for g in discovery.api_group_list()["groups"] if g["name"] == "autoscaling"]
    assert len(groups) == 1
    assert [v["version"] for v in groups[0]["versions"]] == ["v2", "v1"]
    assert groups[0]["preferredVersion"]["version"] == "v2"
    group = discovery.api_group("autoscaling")
    assert group is not None and group["preferredVersion"]["groupVersion"] == "autoscaling/v2"


def test_aggregated_discovery_merges_the_versions() -> None:
    items = [i for i in discovery.aggregated(False, lambda info: True)["items"]
             if i["metadata"].get("name") == "autoscaling"]
    assert len(items) == 1
    versions = {v["version"]: v for v in items[0]["versions"]}
    assert list(versions) == ["v2", "v1"]
    for version in ("v2", "v1"):
        hpa = next(r for r in versions[version]["resources"] if r["resource"] == "horizontalpodautoscalers")
        assert hpa["shortNames"] == ["hpa"] and hpa["responseKind"]["version"] == version
        assert [s["subresource"] for s in hpa["subresources"]] == ["status"]


def test_resource_lists_and_openapi_of_both_versions() -> None:
    for gv in ("autoscaling/v2", "autoscaling/v1"):
        listed = discovery.resource_list(gv, lambda info: True)
        assert listed is not None
        assert {"horizontalpodautoscalers", "horizontalpodautoscalers/status"} <= {r["name"] for r in
                                                                               listed["resources"]}
    v1 = json.loads(openapi.documents()["apis/autoscaling/v1"])
    schema = v1["components"]["schemas"]["HorizontalPodAutoscalerSpecV1"]
    assert "targetCPUUtilizationPercentage" in schema["properties"]
    v2 = json.loads(openapi.documents()["apis/autoscaling/v2"])
    assert "/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/{name}" in v2["paths"]

"""Discovery: `/version`, the legacy group/resource documents, and aggregated discovery (v2).

Why all of it: kubectl resolves every resource name (`po`, `deploy`, `deployments.apps`)
through discovery before its first real request, decides which verbs and
subresources exist (`scale`, `status`) from it, and picks `kubectl get all`'s kinds
by the `all` category. Everything is derived from the kind registry, so a kind
added there is discoverable with no further change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiserver import metricsapi
from apiserver.http import accessapi
from apiserver.http.routing import APPROVABLE, SCALABLE
from kubelite.api import hpaconvert, registry
from kubelite.api.registry import KindInfo

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]
ALL_CATEGORY = frozenset({"pods", "services", "deployments", "replicasets", "statefulsets", "daemonsets",
                          "jobs", "cronjobs"})
AGGREGATED_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

HasStatus = Callable[[KindInfo], bool]


def also_served() -> list[KindInfo]:
    """Built-in kinds also served at a version other than their stored one (converted on the way)."""
    return [hpaconvert.v1_kind()]


def group_versions() -> dict[str, list[KindInfo]]:
    """Kinds by group/version, core ("v1") first, groups in name order."""
    out: dict[str, list[KindInfo]] = {}
    for info in sorted(registry.all_kinds(), key=lambda i: (i.group != "", i.group, i.resource)):
        out.setdefault(info.api_version, []).append(info)
    for info in also_served():  # after the stored version, which is therefore the preferred one
        out.setdefault(info.api_version, []).append(info)
    return out


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def _versions_by_group() -> dict[str, list[str]]:
    """Named groups and their versions, the preferred (stored) one first."""
    out: dict[str, list[str]] = {}
    for gv in all_group_versions():
        group, _, version = gv.rpartition("/")
        if group:
            out.setdefault(group, []).append(version)
    return out


def all_group_versions() -> list[str]:
    """Every served group/version: the kind registry's, then the access API's (reviews) and the metrics API."""
    stored = list(group_versions())
    return stored + sorted({*accessapi.DISCOVERY, metricsapi.GROUP_VERSION} - set(stored))


def api_group_list() -> dict[str, Any]:
    groups = [_group(name, versions) for name, versions in _versions_by_group().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(name: str) -> dict[str, Any] | None:
    versions = _versions_by_group().get(name)
    return None if versions is None else {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _subresources(info: KindInfo, has_status: HasStatus) -> list[tuple[str, str, str, str, list[str]]]:
    """(subresource, group, version, kind, verbs) of each subresource `info` serves."""
    subs = []
    custom = info.custom
    if (custom.status if custom is not None else has_status(info)):
        subs.append(("status", info.group, info.version, info.kind, SUBRESOURCE_VERBS))
    if (custom.scale is not None if custom is not None else info.resource in SCALABLE):
        subs.append(("scale", "autoscaling", "v1", "Scale", SUBRESOURCE_VERBS))
    if info.resource == "pods":  # `kubectl drain` evicts only when discovery lists this
        subs.append(("eviction", "policy", "v1", "Eviction", ["create"]))
        subs.append(("binding", "", "v1", "Binding", ["create"]))
    if info.resource in APPROVABLE:
        subs.append(("approval", info.group, info.version, info.kind, SUBRESOURCE_VERBS))
    parent, sub, group, version, kind = accessapi.TOKEN_SUBRESOURCE
    if info.resource == parent and info.group == "":
        subs.append((sub, group, version, kind, accessapi.CREATE_ONLY))
    return subs


def _review_entries(group_version: str) -> list[dict[str, Any]]:
    """The resources of one group/version served without storage: the access API's cluster-scoped,
    create-only reviews, and the read-only metrics API."""
    if group_version == metricsapi.GROUP_VERSION:
        return [{"name": resource, "singularName": "", "namespaced": namespaced, "kind": kind,
                 "verbs": metricsapi.VERBS} for resource, (kind, namespaced) in metricsapi.RESOURCES.items()]
    return [{"name": resource, "singularName": "", "namespaced": False, "kind": kind, "verbs": accessapi.CREATE_ONLY}
            for resource, kind in accessapi.DISCOVERY.get(group_version, [])]


def categories(info: KindInfo) -> list[str]:
    if info.custom is not None:
        return list(info.custom.categories)
    return ["all"] if info.resource in ALL_CATEGORY else []


def resource_list(group_version: str, has_status: HasStatus) -> dict[str, Any] | None:
    """APIResourceList of one group/version (`/api/v1`, `/apis/apps/v1`); None if it is not served."""
    kinds = group_versions().get(group_version)
    if kinds is None and group_version not in accessapi.DISCOVERY and group_version != metricsapi.GROUP_VERSION:
        return None
    resources: list[dict[str, Any]] = _review_entries(group_version)
    kinds = kinds or []
    for info in kinds:
        entry: dict[str, Any] = {"name": info.resource, "singularName": info.singular,
                                 "namespaced": info.namespaced, "kind": info.kind, "verbs": VERBS}
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if categories(info):
            entry["categories"] = categories(info)
        resources.append(entry)
        for sub, group, version, kind, verbs in _subresources(info, has_status):
            item: dict[str, Any] = {"name": f"{info.resource}/{sub}", "singularName": "",
                                    "namespaced": info.namespaced, "kind": kind, "verbs": verbs}
            if group != info.group or version != info.version:
                item["group"], item["version"] = group, version
            resources.append(item)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def aggregated(core: bool, has_status: HasStatus) -> dict[str, Any]:
    """`APIGroupDiscoveryList` for `/api` (core) or `/apis` (named groups): one request instead of N."""
    items: list[dict[str, Any]] = []
    stored = group_versions()
    for gv in all_group_versions():
        group, _, version = gv.rpartition("/")
        if core != (group == ""):
            continue
        resources: list[dict[str, Any]] = [
            {"resource": e["name"], "responseKind": {"group": group, "version": version, "kind": e["kind"]},
             "scope": "Namespaced" if e["namespaced"] else "Cluster", "singularResource": "", "verbs": e["verbs"]}
            for e in _review_entries(gv)]
        for info in stored.get(gv, []):
            entry: dict[str, Any] = {
                "resource": info.resource,
                "responseKind": {"group": info.group, "version": version, "kind": info.kind},
                "scope": "Namespaced" if info.namespaced else "Cluster",
                "singularResource": info.singular,
                "verbs": VERBS,
            }
            if info.short_names:
                entry["shortNames"] = list(info.short_names)
            if categories(info):
                entry["categories"] = categories(info)
            subs = [{"subresource": sub, "responseKind": {"group": g, "version": v, "kind": k},
                     "verbs": verbs} for sub, g, v, k, verbs in _subresources(info, has_status)]
            if subs:
                entry["subresources"] = subs
            resources.append(entry)
        entry_version = {"version": version, "resources": resources, "freshness": "Current"}
        same_group = next((i for i in items if i["metadata"].get("name", "") == group), None)
        if same_group is not None:  # a second version of a group (autoscaling/v1 beside v2)
            same_group["versions"].append(entry_version)
            continue
        items.append({"metadata": {"name": group} if group else {}, "versions": [entry_version]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}


def wants_aggregated(accept: str) -> bool:
    """True when the client lists the v2 aggregated document among what it accepts."""
    for choice in accept.split(","):
        params = {p.strip() for p in choice.split(";")[1:]}
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
    return False

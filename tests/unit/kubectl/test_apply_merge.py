"""The apply decision: unchanged when the manifest adds nothing, configured otherwise,
with server-set fields kept and fields removed from the manifest deleted."""

from __future__ import annotations

import copy
import json
from typing import Any

from kubectl.apply import LAST_APPLIED, annotate, desired_state, last_applied_of, loosely_equal, needs_update


def manifest(replicas: int = 3, image: str = "busybox:1.35", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "default"}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "main", "image": image,
                                                       "resources": {"requests": {"cpu": 0.5}}}]}}},
    }


def as_server_stores(applied: dict[str, Any]) -> dict[str, Any]:
    """What the apiserver would hold after a create: server fields and defaults added."""
    live = copy.deepcopy(applied)
    live["metadata"].update(uid="u-1", resourceVersion="12", generation=1, creationTimestamp="2026-01-01T00:00:00Z")
    live["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["imagePullPolicy"] = "IfNotPresent"
    container["resources"]["requests"]["cpu"] = "500m"
    live["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    live["status"] = {"replicas": 3, "readyReplicas": 3}
    return live


def test_reapplying_the_same_manifest_is_unchanged() -> None:
    live = as_server_stores(annotate(manifest()))
    changed, merged = needs_update(live, manifest())
    assert not changed and merged == live


def test_changed_field_is_configured_and_server_fields_are_kept() -> None:
    live = as_server_stores(annotate(manifest()))
    changed, merged = needs_update(live, manifest(image="busybox:1.36"))
    assert changed
    container = merged["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox:1.36"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert merged["metadata"]["resourceVersion"] == "12" and merged["metadata"]["uid"] == "u-1"
    assert merged["status"] == live["status"]
    assert merged["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert json.loads(merged["metadata"]["annotations"][LAST_APPLIED])["spec"]["template"]["spec"][
        "containers"][0]["image"] == "busybox:1.36"


def test_replica_change_is_configured() -> None:
    live = as_server_stores(annotate(manifest(replicas=3)))
    changed, merged = needs_update(live, manifest(replicas=1))
    assert changed and merged["spec"]["replicas"] == 1


def test_field_removed_from_manifest_is_deleted() -> None:
    live = as_server_stores(annotate(manifest(labels={"app": "web", "tier": "front"})))
    changed, merged = needs_update(live, manifest(labels={"app": "web"}))
    assert changed and merged["metadata"]["labels"] == {"app": "web"}


def test_field_never_in_manifest_is_kept_even_when_changed_elsewhere() -> None:
    """`kctl scale` then re-apply of a manifest without replicas keeps the scaled count."""
    no_replicas = manifest()
    del no_replicas["spec"]["replicas"]
    live = as_server_stores(annotate(no_replicas))
    live["spec"]["replicas"] = 5
    changed, merged = needs_update(live, no_replicas)
    assert not changed and merged["spec"]["replicas"] == 5


def test_object_created_without_apply_gets_the_annotation() -> None:
    live = as_server_stores(manifest())
    changed, merged = needs_update(live, manifest())
    assert changed and LAST_APPLIED in merged["metadata"]["annotations"]
    assert last_applied_of(merged) == manifest()


def test_named_list_elements_merge_by_name() -> None:
    live = {"spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always"},
                                    {"name": "b", "image": "y", "imagePullPolicy": "Always"}]}}
    desired = {"spec": {"containers": [{"name": "b", "image": "y2"}]}}
    merged = desired_state(live, desired)
    assert merged["spec"]["containers"] == [{"name": "b", "image": "y2", "imagePullPolicy": "Always"}]


def test_service_ports_keep_server_defaults() -> None:
    applied = annotate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    live = copy.deepcopy(applied)
    live["spec"].update(clusterIP="10.96.0.10", type="ClusterIP")
    live["spec"]["ports"][0].update(protocol="TCP", targetPort=80)
    changed, _ = needs_update(live, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                                     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert not changed


def test_loose_equality() -> None:
    assert loosely_equal("1", 1)
    assert loosely_equal("500m", 0.5, "requests")
    assert not loosely_equal("500m", 0.5, "image")
    assert not loosely_equal(True, "true")
    assert not loosely_equal("a", "b")


def test_annotation_does_not_nest_previous_annotation() -> None:
    once = annotate(manifest())
    twice = annotate(once)
    assert LAST_APPLIED not in json.loads(twice["metadata"]["annotations"][LAST_APPLIED]).get("metadata", {}).get(
        "annotations", {})


def test_null_annotations_or_metadata_are_treated_as_none() -> None:
    """`annotations: null` (found by the fuzzer: it crashed kctl) records the manifest like no annotations."""
    for metadata in ({"name": "c", "annotations": None}, None):
        body = annotate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"a": "1"}})
        recorded = json.loads(body["metadata"]["annotations"][LAST_APPLIED])
        assert recorded["data"] == {"a": "1"}

"""Validation: each rule reports the JSON field path and a kubectl-style message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from kubelite.api import ConfigMap, Deployment, Namespace, Node, Pod, ReplicaSet, Secret, Service, registry
from kubelite.api.defaults import apply_defaults
from kubelite.api.errors import StatusCause
from kubelite.api.validation import validate, validate_update

MANIFESTS = Path(__file__).parent / "manifests"

DEPLOY: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "main", "image": "busybox:1.35",
                                                   "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}}]}}},
}


def errors(doc: dict[str, Any], defaults: bool = True) -> dict[str, str]:
    obj = registry.decode(doc)
    if defaults:
        apply_defaults(obj)
    return {c.field: c.message for c in validate(obj)}


def with_(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    cur = out
    parts = path.split(".")
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    if isinstance(cur, list):
        cur[int(parts[-1])] = value
    else:
        cur[parts[-1]] = value
    return out


def test_valid_objects_pass() -> None:
    assert errors(DEPLOY) == {}
    assert errors(DEPLOY, defaults=False) == {}
    for name in ("deployment.yaml", "pod-status.yaml", "service.yaml", "node.yaml", "others.yaml"):
        for doc in yaml.safe_load_all((MANIFESTS / name).read_text()):
            if doc:
                found = errors(doc)
                if name == "deployment.yaml":  # a real manifest with hooks, which kubelite refuses (podsupport)
                    hooks = "spec.template.spec.containers[0].lifecycle"
                    assert set(found) == {f"{hooks}.preStop", f"{hooks}.postStart"}, found
                    continue
                assert found == {}, (name, doc["kind"])


def test_negative_replicas() -> None:
    found = errors(with_(DEPLOY, "spec.replicas", -1))
    assert list(found) == ["spec.replicas"]
    assert "must be greater than or equal to 0" in found["spec.replicas"]
    assert found["spec.replicas"] == "Invalid value: -1: must be greater than or equal to 0"


def test_selector_rules() -> None:
    missing = copy.deepcopy(DEPLOY)
    del missing["spec"]["selector"]
    assert errors(missing)["spec.selector"] == "Required value"
    assert "empty selector is invalid" in errors(with_(DEPLOY, "spec.selector", {}))["spec.selector"]
    mismatch = errors(with_(DEPLOY, "spec.selector", {"matchLabels": {"app": "other"}}))
    assert "`selector` does not match template `labels`" in mismatch["spec.template.metadata.labels"]
    assert mismatch["spec.template.metadata.labels"].startswith('Invalid value: {"app":"web"}')
    bad_op = errors(with_(DEPLOY, "spec.selector", {"matchExpressions": [{"key": "app", "operator": "Has"}]}))
    assert "not a valid label selector operator" in bad_op["spec.selector.matchExpressions"]


def test_template_restart_policy_must_be_always() -> None:
    found = errors(with_(DEPLOY, "spec.template.spec.restartPolicy", "Never"))
    assert found["spec.template.spec.restartPolicy"] == 'Unsupported value: "Never": supported values: "Always"'


def test_pod_rules_with_template_paths() -> None:
    doc = copy.deepcopy(DEPLOY)
    c = doc["spec"]["template"]["spec"]["containers"]
    c[0]["image"] = ""
    c[0]["ports"] = [{"containerPort": 70000}, {"containerPort": 80, "protocol": "HTTP"}]
    c[0]["resources"] = {"requests": {"cpu": "2", "memory": "lots"}, "limits": {"cpu": "1"}}
    c[0]["volumeMounts"] = [{"name": "nope", "mountPath": "/x"}]
    c.append({"name": "main", "image": "x", "env": [{"name": "A=B", "value": "1"}]})
    found = errors(doc)
    base = "spec.template.spec.containers"
    assert found[f"{base}[0].image"] == "Required value"
    assert "between 1 and 65535" in found[f"{base}[0].ports[0].containerPort"]
    assert found[f"{base}[0].ports[1].protocol"].startswith('Unsupported value: "HTTP"')
    assert "invalid quantity" in found[f"{base}[0].resources.requests[memory]"]
    assert found[f"{base}[0].resources.requests"] == 'Invalid value: "2": must be less than or equal to cpu limit of 1'
    assert found[f"{base}[0].volumeMounts[0].name"] == 'Not found: "nope"'
    assert found[f"{base}[1].name"] == 'Duplicate value: "main"'
    assert f"{base}[1].env[0].name" in found


def test_pod_needs_containers_and_valid_policies() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"},
           "spec": {"restartPolicy": "Sometimes", "containers": []}}
    found = errors(pod)
    assert found["spec.containers"] == "Required value"
    assert found["spec.restartPolicy"].startswith('Unsupported value: "Sometimes": supported values: "Always"')
    assert "RFC 1123 subdomain" in found["metadata.name"]


def test_volumes_probes_tolerations() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "volumes": [{"name": "a"}, {"name": "b", "emptyDir": {}, "hostPath": {"path": "/x"}},
                    {"name": "b", "emptyDir": {}}],
        "containers": [{"name": "c", "image": "x",
                        "livenessProbe": {"successThreshold": 2, "exec": {"command": ["true"]}},
                        "readinessProbe": {"periodSeconds": -1}}],
        "tolerations": [{"key": "k", "operator": "Exists", "value": "v"}, {"effect": "Sometimes"}]}}
    found = errors(pod)
    assert found["spec.volumes[0]"].startswith("Required value")
    assert found["spec.volumes[1].hostPath"] == "Forbidden: may not specify more than 1 volume type"
    assert found["spec.volumes[2].name"] == 'Duplicate value: "b"'
    assert found["spec.containers[0].livenessProbe.successThreshold"] == "Invalid value: 2: must be 1"
    assert found["spec.containers[0].readinessProbe"].startswith("Required value")
    assert "spec.containers[0].readinessProbe.periodSeconds" in found
    assert "spec.tolerations[0].operator" in found and "spec.tolerations[1].effect" in found


def test_metadata_rules() -> None:
    doc = with_(DEPLOY, "metadata", {"name": "web", "labels": {"bad key": "v", "ok": "bad value!"},
                                     "annotations": {"example.com/ok": "x" * 300},
                                     "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "a", "uid": "1",
                                                          "controller": True},
                                                         {"apiVersion": "v1", "kind": "X", "name": "b", "uid": "2",
                                                          "controller": True}]})
    found = errors(doc)
    assert found["metadata.labels"].startswith('Invalid value: "bad key"')
    assert found["metadata.labels[ok]"].startswith('Invalid value: "bad value!"')
    assert "Only one reference" in found["metadata.ownerReferences"]
    assert "metadata.annotations" not in found
    nameless = with_(DEPLOY, "metadata", {})
    assert "name or generateName is required" in errors(nameless)["metadata.name"]
    assert errors(with_(DEPLOY, "metadata", {"generateName": "web-"})) == {}


def test_service_rules() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "my.svc"},
           "spec": {"type": "Weird", "selector": {"app": "web"}, "ports": []}}
    found = errors(svc)
    assert "RFC 1123 label" in found["metadata.name"]
    assert found["spec.type"].startswith('Unsupported value: "Weird"')
    assert found["spec.ports"] == "Required value"
    headless = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}
    assert errors(headless) == {}
    ports = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [
        {"port": 0}, {"name": "b", "port": 80, "nodePort": 30000}, {"name": "c", "port": 81, "targetPort": "Bad_Name"}]}}
    found = errors(ports)
    assert "between 1 and 65535" in found["spec.ports[0].port"]
    assert found["spec.ports[0].name"] == "Required value"
    assert found["spec.ports[1].nodePort"].startswith("Forbidden")
    assert "spec.ports[2].targetPort" in found
    node_port = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                 "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}}
    assert "30000-32767" in errors(node_port)["spec.ports[0].nodePort"]


def test_namespace_configmap_secret_node() -> None:
    assert "RFC 1123 label" in errors({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}})[
        "metadata.name"]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"bad/key": "v"}}
    assert "config key" in errors(cm)["data"]
    sec = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}}
    assert "base64" in errors(sec)["data[k]"]
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
            "spec": {"podCIDR": "10.0.0.0/33", "taints": [{"key": "k", "effect": "Never"}]}}
    found = errors(node)
    assert "spec.podCIDR" in found and "spec.taints[0].effect" in found


def decoded(doc: dict[str, Any]) -> Any:
    obj = registry.decode(doc)
    apply_defaults(obj)
    return obj


def fields(causes: list[StatusCause]) -> set[str]:
    return {c.field for c in causes}


def test_update_immutable_fields() -> None:
    old = decoded(DEPLOY)
    old.metadata.uid = "u1"
    assert validate_update(old, old.copy_deep()) == []
    new = old.copy_deep()
    new.spec.replicas = 5
    new.spec.template.spec.containers[0].image = "busybox:1.36"
    assert validate_update(old, new) == []
    new.metadata.name = "other"
    new.metadata.uid = "u2"
    assert new.spec.selector is not None
    new.spec.selector.match_labels = {"app": "web", "v": "2"}
    new.spec.template.metadata.labels["v"] = "2"
    found = {c.field: c.message for c in validate_update(old, new)}
    assert set(found) == {"metadata.name", "metadata.uid", "spec.selector"}
    assert found["metadata.name"].endswith("field is immutable")


def test_pod_update_allows_only_image_and_toleration_additions() -> None:
    old = decoded({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": [{"name": "c", "image": "a:1"}],
                            "tolerations": [{"key": "k", "operator": "Exists"}]}})
    new = old.copy_deep()
    new.spec.containers[0].image = "a:2"
    new.spec.tolerations.append(new.spec.tolerations[0].model_copy(update={"key": "k2"}))
    assert validate_update(old, new) == []
    changed = old.copy_deep()
    changed.spec.containers[0].command = ["sh"]
    assert fields(validate_update(old, changed)) == {"spec"}
    removed = old.copy_deep()
    removed.spec.tolerations = []
    assert "spec.tolerations" in fields(validate_update(old, removed))
    deadline = old.copy_deep()  # the kubelet does not stop pods at a deadline: refused, not ignored
    deadline.spec.active_deadline_seconds = 50
    assert fields(validate_update(old, deadline)) == {"spec.activeDeadlineSeconds"}


def test_service_cluster_ip_and_immutable_configmap() -> None:
    old = decoded({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                   "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}})
    omitted = old.copy_deep()
    omitted.spec.cluster_ip = None
    assert validate_update(old, omitted) == []
    moved = old.copy_deep()
    moved.spec.cluster_ip = "10.96.0.11"
    assert fields(validate_update(old, moved)) == {"spec.clusterIP"}
    cm = ConfigMap.from_dict({"metadata": {"name": "c"}, "data": {"a": "1"}, "immutable": True})
    cm2 = cm.copy_deep()
    cm2.data["a"] = "2"
    assert fields(validate_update(cm, cm2)) == {"data"}


def test_every_kind_validates_without_crashing() -> None:
    for info in registry.all_kinds():
        obj = info.model()
        obj.metadata.name = "x"
        apply_defaults(obj)
        validate(obj)
        validate_update(obj, obj.copy_deep())
    assert validate(Namespace.from_dict({"metadata": {"name": "ok"}})) == []
    assert validate(Node.from_dict({"metadata": {"name": "node-1.example"}})) == []
    assert isinstance(validate(ReplicaSet()), list) and isinstance(validate(Secret()), list)
    assert isinstance(validate(Service()), list) and isinstance(validate(Pod()), list)
    assert isinstance(validate(Deployment()), list)

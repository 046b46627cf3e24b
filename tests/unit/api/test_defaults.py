"""Defaulting fills what Kubernetes fills, only where unset, idempotently."""

from __future__ import annotations

import base64

import pytest

from kubelite.api import ConfigMap, Deployment, Namespace, Pod, ReplicaSet, Secret, Service, registry
from kubelite.api.defaults import apply_defaults, image_pull_policy_for

POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
    "spec": {"containers": [{
        "name": "c", "image": "busybox:1.35", "ports": [{"containerPort": 80}],
        "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "resources": {"limits": {"cpu": "1"}},
        "livenessProbe": {"httpGet": {"port": 80}},
    }]},
}


def test_pod_defaults() -> None:
    pod = Pod.from_dict(POD)
    apply_defaults(pod)
    assert pod.metadata.namespace is None  # left to the server
    spec = pod.spec
    assert (spec.restart_policy, spec.termination_grace_period_seconds, spec.dns_policy, spec.scheduler_name) == (
        "Always", 30, "ClusterFirst", "default-scheduler")
    c = spec.containers[0]
    assert c.image_pull_policy == "IfNotPresent"
    assert c.termination_message_path == "/dev/termination-log" and c.termination_message_policy == "File"
    assert c.ports[0].protocol == "TCP"
    assert c.resources.requests == {"cpu": "1"}
    assert c.env[0].value_from and c.env[0].value_from.field_ref and c.env[0].value_from.field_ref.api_version == "v1"
    probe = c.liveness_probe
    assert probe and (probe.timeout_seconds, probe.period_seconds, probe.success_threshold,
                      probe.failure_threshold) == (1, 10, 1, 3)
    assert probe.http_get and probe.http_get.path == "/" and probe.http_get.scheme == "HTTP"
    assert pod.status.phase == "Pending"


def test_defaults_do_not_override_and_are_idempotent() -> None:
    doc = {**POD, "spec": {**POD["spec"], "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                           "schedulerName": "other"}}
    pod = Pod.from_dict(doc)
    apply_defaults(pod)
    once = pod.to_dict()
    apply_defaults(pod)
    assert pod.to_dict() == once
    assert (pod.spec.restart_policy, pod.spec.termination_grace_period_seconds, pod.spec.scheduler_name) == (
        "Never", 0, "other")


@pytest.mark.parametrize("image,policy", [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.35", "IfNotPresent"),
    ("registry:5000/team/app", "Always"), ("registry:5000/team/app:v2", "IfNotPresent"),
    ("app@sha256:abcd", "IfNotPresent"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy_for(image) == policy


def test_deployment_defaults_including_template() -> None:
    d = Deployment.from_dict({"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    apply_defaults(d)
    s = d.spec
    assert s.replicas == 1 and s.revision_history_limit == 10 and s.progress_deadline_seconds == 600
    assert s.strategy and s.strategy.type == "RollingUpdate"
    assert s.strategy.rolling_update and s.strategy.rolling_update.max_surge == "25%"
    assert s.strategy.rolling_update.max_unavailable == "25%"
    assert s.template.spec.restart_policy == "Always"
    assert s.template.spec.containers[0].image_pull_policy == "Always"
    assert s.selector and s.selector.match_labels == {"a": "b"}


def test_deployment_keeps_zero_replicas_and_recreate_has_no_rolling_update() -> None:
    d = Deployment.from_dict({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}})
    apply_defaults(d)
    assert d.spec.replicas == 0 and d.spec.strategy and d.spec.strategy.rolling_update is None
    no_selector = Deployment.from_dict({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}})
    apply_defaults(no_selector)
    assert no_selector.spec.selector is None  # apps/v1: required, never derived


def test_replicaset_service_namespace_secret() -> None:
    rs = ReplicaSet()
    apply_defaults(rs)
    assert rs.spec.replicas == 1
    svc = Service.from_dict({"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https",
                                                               "protocol": "UDP"}]}})
    apply_defaults(svc)
    assert svc.spec.type == "ClusterIP" and svc.spec.session_affinity == "None"
    assert [(p.protocol, p.target_port) for p in svc.spec.ports] == [("TCP", 80), ("UDP", "https")]
    ns = Namespace()
    apply_defaults(ns)
    assert ns.status.phase == "Active"
    secret = Secret.from_dict({"stringData": {"user": "admin"}, "data": {"pw": "c2VjcmV0"}})
    apply_defaults(secret)
    assert secret.type == "Opaque" and secret.string_data == {}
    assert base64.b64decode(secret.data["user"]) == b"admin" and secret.data["pw"] == "c2VjcmV0"
    cm = ConfigMap(data={"a": "b"})
    apply_defaults(cm)
    assert cm.to_dict() == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}


def test_every_kind_can_be_defaulted() -> None:
    """Every registered kind, even empty: defaulting neither fails, nor changes what the object
    is, nor changes anything the second time (the apiserver defaults on create and on update)."""
    for info in registry.all_kinds():
        obj = info.model()
        apply_defaults(obj)
        once = obj.to_dict()
        assert (once["apiVersion"], once["kind"]) == (info.api_version, info.kind)
        apply_defaults(obj)
        assert obj.to_dict() == once, f"defaulting {info.kind} twice differs from once"
        assert info.model.from_dict(once).to_dict() == once, f"defaulted {info.kind} does not round-trip"

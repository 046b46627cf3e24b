"""Every PodSpec field either works or is refused: the fields kubelite cannot honour are
refused by name (in pods and in workload templates), and hostAliases are checked."""

from __future__ import annotations

from typing import Any

import pytest

from kubelet.pod_config import sandbox_config
from kubelite.api import Pod, registry
from kubelite.api.validation import validate


def pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def causes(doc: dict[str, Any]) -> dict[str, str]:
    return {c.field: c.message for c in validate(registry.decode(doc))}


@pytest.mark.parametrize(("field", "value", "words"), [
    ("priorityClassName", "system-cluster-critical", "priority and preemption are not supported"),
    ("priority", 1000, "priority and preemption are not supported"),
    ("preemptionPolicy", "Never", "priority and preemption are not supported"),
    ("runtimeClassName", "gvisor", "RuntimeClasses are not supported"),
    ("readinessGates", [{"conditionType": "example.com/ready"}], "readiness gates are not supported"),
    ("setHostnameAsFQDN", True, "setHostnameAsFQDN is not supported"),
    ("enableServiceLinks", True, "service links are not supported"),
    ("activeDeadlineSeconds", 30, "the kubelet does not stop pods at a deadline"),
    ("shareProcessNamespace", True, "a shared PID namespace is not supported"),
])
def test_fields_kubelite_cannot_honour_are_refused_by_name(field: str, value: Any, words: str) -> None:
    found = causes(pod(**{field: value}))
    assert f"spec.{field}" in found, found
    assert found[f"spec.{field}"].startswith("Forbidden: ") and words in found[f"spec.{field}"]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}},
                           "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod(**{field: value})["spec"]}}}
    assert f"spec.template.spec.{field}" in causes(deployment)


@pytest.mark.parametrize(("container", "field"), [
    ({"lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}}}, "lifecycle.preStop"),
    ({"lifecycle": {"postStart": {"httpGet": {"path": "/", "port": 80}}}}, "lifecycle.postStart"),
    ({"volumeDevices": [{"name": "v", "devicePath": "/dev/xvda"}]}, "volumeDevices"),
    ({"resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}]}, "resizePolicy"),
])
def test_container_fields_kubelite_cannot_honour_are_refused(container: dict[str, Any], field: str) -> None:
    doc = pod()
    doc["spec"]["containers"][0].update(container)
    found = causes(doc)
    assert found[f"spec.containers[0].{field}"].startswith("Forbidden: "), found


def test_their_harmless_values_and_honoured_host_fields_are_accepted() -> None:
    assert causes(pod(enableServiceLinks=False, setHostnameAsFQDN=False, hostPID=True, hostIPC=True,
                      hostNetwork=True, hostAliases=[{"ip": "10.1.2.3", "hostnames": ["db", "db.local"]}])) == {}


def test_host_aliases_are_checked_and_reach_the_sandbox(tmp_path: Any) -> None:
    found = causes(pod(hostAliases=[{"ip": "10.1.2", "hostnames": ["Bad_Name"]}, {"ip": "::1"}]))
    assert set(found) == {"spec.hostAliases[0].ip", "spec.hostAliases[0].hostnames[0]",
                          "spec.hostAliases[1].hostnames"}
    p = Pod.from_dict({**pod(hostAliases=[{"ip": "10.1.2.3", "hostnames": ["db"]}]),
                       "metadata": {"name": "p", "namespace": "default", "uid": "u"}})
    assert sandbox_config(p, tmp_path).host_aliases == [("10.1.2.3", ["db"])]

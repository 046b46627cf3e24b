"""Models read and write Kubernetes JSON exactly: names, omissions, and field-path errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import kubelite.api as api
from kubelite.api import (
    Container,
    ContainerStatus,
    Deployment,
    Node,
    ObjectMeta,
    Pod,
    PodSpec,
    ReplicaSet,
    Service,
    registry,
)
from kubelite.api.errors import Invalid

MANIFESTS = Path(__file__).parent / "manifests"


def load_all(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


@pytest.mark.parametrize("name", ["deployment.yaml", "pod-status.yaml", "service.yaml", "node.yaml", "others.yaml"])
def test_real_manifests_round_trip_unchanged(name: str) -> None:
    for doc in load_all(name):
        obj = registry.decode(doc)
        assert obj.to_dict() == strip_nulls(doc)
        again = type(obj).from_dict(obj.to_dict())
        assert again == obj


def test_kubernetes_json_names_map_to_snake_case_attributes() -> None:
    pod = Pod.from_dict(load_all("pod-status.yaml")[0])
    assert pod.status.pod_ip == "10.244.1.7" and pod.status.host_ip == "10.0.0.11"
    assert pod.status.pod_ips[0].ip == "10.244.1.7"
    assert pod.status.container_statuses[0].container_id == "process://4242"
    assert pod.status.container_statuses[0].image_id.startswith("docker.io")
    assert pod.status.qos_class == "BestEffort"
    assert pod.metadata.owner_references[0].block_owner_deletion is True
    assert pod.api_version == "v1" and pod.metadata.uid and pod.metadata.resource_version == "4242"
    svc = Service.from_dict(load_all("service.yaml")[0])
    assert svc.spec.cluster_ip == "10.96.0.15" and svc.spec.cluster_ips == ["10.96.0.15"]
    assert svc.spec.external_ips == ["192.0.2.10"] and svc.spec.ports[0].target_port == "http"
    assert svc.spec.ports[1].target_port == 9090
    assert svc.spec.session_affinity_config and svc.spec.session_affinity_config.client_ip
    node = Node.from_dict(load_all("node.yaml")[0])
    assert node.spec.pod_cidr == "10.244.1.0/24" and node.spec.provider_id == "kubelite://node-1"
    assert node.kubelet_port() == 10250 and node.internal_ip() == "10.0.0.11"
    assert node.status.node_info and node.status.node_info.machine_id == "abc"
    spec = PodSpec(host_pid=True, host_ipc=True, set_hostname_as_fqdn=True)
    assert spec.to_dict() == {"hostPID": True, "hostIPC": True, "setHostnameAsFQDN": True}


def test_construct_by_attribute_name_and_dump_by_alias() -> None:
    pod = Pod(metadata=ObjectMeta(name="p", namespace="default"),
              spec=PodSpec(node_name="n1", containers=[Container(name="c", image="busybox")]))
    assert pod.to_dict() == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
    }


def test_collections_never_none_and_nested_structs_present() -> None:
    pod = Pod()
    assert pod.metadata.labels == {} and pod.spec.containers == [] and pod.status.conditions == []
    assert Container(name="c").resources.requests == {}
    assert Deployment().spec.template.metadata.labels == {}
    assert Pod().to_dict() == {"apiVersion": "v1", "kind": "Pod"}


def test_to_dict_keeps_meaningful_zero_values_and_set_empty_sub_objects() -> None:
    rs = ReplicaSet.from_dict({"spec": {"replicas": 0}, "status": {"replicas": 0}})
    assert rs.to_dict()["spec"] == {"replicas": 0}
    assert rs.to_dict()["status"] == {"replicas": 0}
    status = ContainerStatus.from_dict({"name": "c", "state": {"running": {}},
                                        "lastState": {"terminated": {"exitCode": 0}}})
    out = status.to_dict()
    assert out["restartCount"] == 0 and out["ready"] is False
    assert out["state"] == {"running": {}}
    assert out["lastState"] == {"terminated": {"exitCode": 0}}
    vol = api.Volume.from_dict({"name": "scratch", "emptyDir": {}})
    assert vol.to_dict() == {"name": "scratch", "emptyDir": {}}


def test_quantities_written_as_yaml_numbers_become_strings() -> None:
    c = Container.from_dict({"name": "c", "resources": {"requests": {"cpu": 1, "memory": 1.5},
                                                        "limits": {"cpu": 2.0}}})
    assert c.resources.requests == {"cpu": "1", "memory": "1.5"}
    assert c.resources.limits == {"cpu": "2"}


def causes(exc: Invalid) -> dict[str, str]:
    return {c.field: c.message for c in exc.causes}


def test_unknown_field_is_rejected_with_its_json_path_and_a_suggestion() -> None:
    doc = load_all("deployment.yaml")[0]
    doc["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    with pytest.raises(Invalid) as info:
        Deployment.from_dict(doc)
    found = causes(info.value)
    assert list(found) == ["spec.template.spec.containers[0].imagee"]
    assert found["spec.template.spec.containers[0].imagee"].startswith("Unsupported field")
    assert '"image"' in found["spec.template.spec.containers[0].imagee"]
    assert info.value.code == 422 and info.value.reason == "Invalid"
    assert str(info.value).startswith('Deployment.apps "web" is invalid: spec.template.spec.containers[0].imagee')


def test_type_errors_name_field_and_expected_type() -> None:
    with pytest.raises(Invalid) as info:
        Service.from_dict({"metadata": {"name": "s"}, "spec": {"selector": ["a", "b"],
                                                               "ports": [{"port": "eighty"}]}})
    found = causes(info.value)
    assert found["spec.selector"].startswith("expected a map of string to string")
    assert found["spec.ports[0].port"] == 'expected integer, got string "eighty"'

    with pytest.raises(Invalid) as info:
        Pod.from_dict({"metadata": {"labels": {"version": 2}},
                       "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 1.5}]}],
                                "tolerations": "all", "hostNetwork": [1]},
                       "status": {"containerStatuses": [{}]}})
    found = causes(info.value)
    assert found["metadata.labels[version]"] == "expected string, got number 2"
    assert found["spec.containers[0].ports[0].containerPort"].startswith("expected integer")
    assert found["spec.tolerations"].startswith("expected a list")
    assert found["spec.hostNetwork"].startswith("expected boolean")
    assert found["status.containerStatuses[0].name"] == "Required value"


def test_int_or_string_errors_are_reported_once() -> None:
    with pytest.raises(Invalid) as info:
        Deployment.from_dict({"spec": {"strategy": {"rollingUpdate": {"maxSurge": [1]}}}})
    assert [(c.field, c.message) for c in info.value.causes] == [
        ("spec.strategy.rollingUpdate.maxSurge", "expected integer or string, got a list")]


def test_non_mapping_input_is_invalid_not_a_crash() -> None:
    with pytest.raises(Invalid) as info:
        Pod.from_dict(["not", "a", "map"])
    assert info.value.causes[0].message.startswith("expected a map")


def test_helpers_now_and_object_key() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", api.now())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", api.now_micro())
    assert api.parse_time(api.now_micro()).tzinfo is not None
    assert api.object_key(Pod(metadata=ObjectMeta(name="p", namespace="ns"))) == "ns/p"
    assert api.object_key(Node(metadata=ObjectMeta(name="n1"))) == "n1"
    assert api.object_key({"metadata": {"name": "x", "namespace": "d"}}) == "d/x"


def test_k8s_alias_exceptions() -> None:
    for attr, alias in [("pod_ip", "podIP"), ("pod_ips", "podIPs"), ("cluster_ip", "clusterIP"),
                        ("external_ips", "externalIPs"), ("load_balancer_ip", "loadBalancerIP"),
                        ("container_id", "containerID"), ("host_pid", "hostPID"), ("pod_cidrs", "podCIDRs"),
                        ("api_version", "apiVersion"), ("uid", "uid"), ("ip_families", "ipFamilies"),
                        ("system_uuid", "systemUUID"), ("node_name", "nodeName")]:
        assert api.k8s_alias(attr) == alias


def test_copy_deep_is_independent() -> None:
    pod = Pod(metadata=ObjectMeta(name="p", labels={"a": "1"}))
    copy = pod.copy_deep()
    copy.metadata.labels["a"] = "2"
    assert pod.metadata.labels["a"] == "1"


KUBECTL_DRY_RUN = """
apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: nginx
        args:
        resources: {}
status: {}
"""


def test_kubectl_dry_run_output_with_nulls_loads() -> None:
    dep = registry.decode(yaml.safe_load(KUBECTL_DRY_RUN))
    assert isinstance(dep, Deployment)
    assert dep.metadata.creation_timestamp is None and dep.spec.template.spec.containers[0].args == []
    out = dep.to_dict()
    assert "status" not in out and "creationTimestamp" not in out["metadata"]
    assert out["spec"]["strategy"] == {}  # a set optional struct stays, like Kubernetes
    assert "resources" not in out["spec"]["template"]["spec"]["containers"][0]


def test_required_field_given_as_null_is_required() -> None:
    with pytest.raises(Invalid) as info:
        Pod.from_dict({"spec": {"containers": [{"name": None, "image": "x"}]}})
    assert causes(info.value) == {"spec.containers[0].name": "Required value"}


def test_typed_from_dict_rejects_another_kind() -> None:
    with pytest.raises(Invalid) as info:
        Deployment.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}})
    assert causes(info.value) == {"kind": 'expected kind "Deployment", got "Pod"'}
    assert registry.lookup("po").list_kind == "PodList"

"""Pure Endpoints rules: readiness split, named ports per pod, publishNotReadyAddresses, hostnames."""

from __future__ import annotations

from typing import Any

from controllers.endpoints.controller import desired_subsets
from kubelite.api import Pod, Service


def pod(name: str, ip: str | None, ready: bool = True, port: int = 8080, **spec: Any) -> Pod:
    status: dict[str, Any] = {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]}
    if ip:
        status["podIP"] = ip
    return Pod.from_dict({"metadata": {"name": name, "namespace": "default", "uid": f"u-{name}"}, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "image": "x", "ports": [{"name": "http", "containerPort": port}]}],
        **spec}, "status": status})


def service(**spec: Any) -> Service:
    return Service.from_dict({"metadata": {"name": "web", "namespace": "default"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}], **spec}})


def test_named_ports_group_pods_into_subsets_and_readiness_splits() -> None:
    subsets = desired_subsets(service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False),
                                          pod("c", "10.0.0.3", port=9090), pod("pending", None)])
    by_port = {s.ports[0].port: s for s in subsets}
    assert set(by_port) == {8080, 9090}
    assert [a.ip for a in by_port[8080].addresses] == ["10.0.0.1"]
    assert [a.ip for a in by_port[8080].not_ready_addresses] == ["10.0.0.2"]
    assert by_port[8080].addresses[0].target_ref is not None
    assert by_port[8080].addresses[0].target_ref.name == "a"
    assert by_port[8080].ports[0].name == "web"


def test_publish_not_ready_and_headless_hostnames() -> None:
    subsets = desired_subsets(service(publishNotReadyAddresses=True, clusterIP="None"),
                              [pod("web-0", "10.0.0.5", ready=False, hostname="web-0", subdomain="web")])
    assert [a.ip for a in subsets[0].addresses] == ["10.0.0.5"]
    assert subsets[0].addresses[0].hostname == "web-0"

"""kctl port-forward's port grammar and Service port mapping (kubectl's rules)."""

from __future__ import annotations

import pytest

from kubectl.errors import CliError
from kubectl.portforwardplan import (
    Forward,
    PortSpec,
    listen_hosts,
    parse_specs,
    pod_forwards,
    service_forwards,
)

POD = {"metadata": {"name": "web-1"}, "spec": {"containers": [
    {"name": "a", "ports": [{"name": "http", "containerPort": 8080}]},
    {"name": "b", "ports": [{"name": "metrics", "containerPort": 9090}]}]}}
SVC = {"metadata": {"name": "web"}, "spec": {"ports": [
    {"name": "web", "port": 80, "targetPort": "http"}, {"name": "m", "port": 9000, "targetPort": 9090},
    {"port": 7000}]}}


def test_specs() -> None:
    assert parse_specs(["8080", "8888:80", ":5000", "0:5000", "9000:http"]) == [
        PortSpec(None, "8080"), PortSpec(8888, "80"), PortSpec(0, "5000"), PortSpec(0, "5000"), PortSpec(9000, "http")]


@pytest.mark.parametrize("spec, message", [
    ("70000", "invalid remote port 70000"), ("a:80", "invalid local port 'a'"), ("1:2:3", "expected [LOCAL_PORT:]"),
    ("80:", "expected [LOCAL_PORT:]"), ("99999:80", "invalid local port 99999"), ("8080:h_t", "invalid remote port"),
])
def test_bad_specs_name_the_port(spec: str, message: str) -> None:
    with pytest.raises(CliError, match=message.replace("[", r"\[")):
        parse_specs([spec])


def test_pod_named_ports() -> None:
    assert pod_forwards(POD, parse_specs(["metrics", "1234:http", ":80"])) == [
        Forward(9090, 9090), Forward(1234, 8080), Forward(0, 80)]
    with pytest.raises(CliError, match="Pod 'web-1' does not have a named port 'grpc'"):
        pod_forwards(POD, parse_specs(["grpc"]))


def test_service_ports_map_to_target_ports() -> None:
    assert service_forwards(SVC, POD, parse_specs(["80", "8443:web", ":9000", "7000"])) == [
        Forward(80, 8080), Forward(8443, 8080), Forward(0, 9090), Forward(7000, 7000)]
    with pytest.raises(CliError, match="Service web does not have a service port 81"):
        service_forwards(SVC, POD, parse_specs(["81"]))


def test_listen_hosts() -> None:
    assert listen_hosts(["localhost"]) == ["127.0.0.1", "::1"]
    assert listen_hosts(["localhost,10.0.0.1", "0.0.0.0"]) == ["127.0.0.1", "::1", "10.0.0.1", "0.0.0.0"]
    with pytest.raises(CliError, match="--address"):
        listen_hosts([","])

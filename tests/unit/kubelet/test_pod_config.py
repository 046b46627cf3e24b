"""Pod spec -> runtime config: hostname, DNS, hostPorts, resources, securityContext."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelet.envvars import ConfigError
from kubelet.pod_config import resources, sandbox_config, security
from kubelet.runtime import DnsConfig, PortMapping, Resources, Security
from kubelite.api import Pod


def make_pod(spec: dict[str, object]) -> Pod:
    return Pod.from_dict({"metadata": {"name": "web", "namespace": "prod", "uid": "u1"}, "spec": spec})


def test_sandbox_config() -> None:
    pod = make_pod({"hostNetwork": True,
                    "dnsConfig": {"nameservers": ["10.96.0.10"], "searches": ["prod.svc"],
                                  "options": [{"name": "ndots", "value": "5"}]},
                    "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080},
                                                           {"containerPort": 53, "protocol": "UDP"}]}]})
    cfg = sandbox_config(pod, Path("/data"))
    assert (cfg.name, cfg.namespace, cfg.uid, cfg.hostname, cfg.host_network) == ("web", "prod", "u1", "web", True)
    assert cfg.port_mappings == [PortMapping(80, 8080, "TCP", "")]
    assert cfg.dns == DnsConfig(["10.96.0.10"], ["prod.svc"], ["ndots:5"])
    assert cfg.log_directory == Path("/data/pods/prod_web_u1")
    assert sandbox_config(make_pod({"hostname": "h", "containers": []}), Path("/d")).hostname == "h"


def test_resources_and_security() -> None:
    pod = make_pod({"securityContext": {"runAsUser": 1000, "runAsGroup": 1000},
                    "containers": [{"name": "c", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
                                    "securityContext": {"runAsUser": 2000, "readOnlyRootFilesystem": True}}]})
    c = pod.spec.containers[0]
    assert resources(c) == Resources(cpu_millis_limit=500, memory_limit_bytes=64 * 2**20, cpu_millis_request=500)
    assert security(pod, c) == Security(run_as_user=2000, run_as_group=1000, read_only_root_fs=True)
    # Kubernetes' message; the process runtime never reaches the image check, so the kubelet refuses here.
    bad = make_pod({"securityContext": {"runAsNonRoot": True, "runAsUser": 0}, "containers": [{"name": "c"}]})
    with pytest.raises(ConfigError, match="container's runAsUser breaks non-root policy"):
        security(bad, bad.spec.containers[0])

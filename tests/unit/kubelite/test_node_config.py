"""The node configuration `init` publishes in cluster-info and the kubelet flags `join` derives from it."""

from __future__ import annotations

from pathlib import Path

from kubelite import addons
from kubelite.api import clusterinfo as ci
from kubelite.bootstrap.joincli import node_flags
from kubelite.settings import ClusterSettings


def plan_of(runtime: str, advertise: str = "") -> addons.ClusterPlan:
    return ClusterSettings(nodes=1, runtime=runtime, net_id=7, pod_network="vxlan" if runtime == "runc" else "host-gw",
                           advertise_address=advertise).plan(Path("/tmp/x"))


def test_init_publishes_pod_network_dns_and_a_tls_registry_for_runc() -> None:
    config = addons.node_config(plan_of("runc", "192.0.2.5"), "vxlan")
    assert config == {"podNetwork": "vxlan", "netId": "7", "clusterDNS": "10.96.0.10", "clusterDomain": "cluster.local",
                      "registry": "192.0.2.5:5000", "registryTLS": "true"}
    assert addons.node_config(plan_of("runc"), "host-gw")["registryTLS"] == "false"  # `up`: plain HTTP on the bridge
    assert addons.node_config(plan_of("process"), "host-gw") == {}  # no pod network, DNS or registry to join


def test_init_kubelets_verify_the_registry_only_when_it_serves_tls() -> None:
    kubelet = next(c for c in plan_of("runc", "192.0.2.5").components if c.name == "kubelet-node-1")
    assert kubelet.argv[kubelet.argv.index("--registry-ca-file") + 1] == "/tmp/x/pki/ca.crt"
    kubelet = next(c for c in plan_of("runc").components if c.name == "kubelet-node-1")
    assert "--registry-ca-file" not in kubelet.argv


def test_node_config_rides_signed_in_the_cluster_info_kubeconfig() -> None:
    info = ci.ClusterInfo("https://192.0.2.5:6445", b"PEM", "192.0.2.5:6443", {"podNetwork": "vxlan", "netId": "7"})
    back = ci.parse_kubeconfig(ci.kubeconfig(info))
    assert back == info
    assert ci.parse_kubeconfig(ci.kubeconfig(ci.ClusterInfo("https://h:1", b"PEM"))).node_config == {}


def test_join_turns_the_node_config_into_kubelet_flags() -> None:
    assert node_flags({"podNetwork": "vxlan", "netId": "7", "vxlanPort": "4789", "clusterDNS": "10.96.0.10",
                       "clusterDomain": "cluster.local"}) == [
        "--pod-network", "vxlan", "--net-id", "7", "--vxlan-port", "4789",
        "--cluster-dns", "10.96.0.10", "--cluster-domain", "cluster.local"]
    assert node_flags({}) == []


def test_a_joined_node_renews_its_lease_within_the_clusters_grace_period() -> None:
    tuned = ClusterSettings(nodes=1, runtime="process", tuning=addons.Tuning(node_monitor_grace_period=8)).plan(
        Path("/tmp/x"))
    config = addons.node_config(tuned, "host-gw", addons.Tuning(node_monitor_grace_period=8))
    assert config == {"nodeLeaseDurationSeconds": "8"}
    assert node_flags(config, runc=False) == ["--node-lease-duration-seconds", "8"]
    runc = addons.node_config(plan_of("runc"), "vxlan", addons.Tuning(node_monitor_grace_period=8))
    assert node_flags(runc)[:2] == ["--node-lease-duration-seconds", "8"] and "--pod-network" in node_flags(runc)
    assert node_flags(runc, runc=False) == ["--node-lease-duration-seconds", "8"]

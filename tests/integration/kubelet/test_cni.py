"""CniNetwork against the real CNI plugins, inside a throwaway "node" network namespace.

Needs root and /usr/lib/cni (containernetworking-plugins); skipped otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubelet.cni import CniError, CniNetwork

PLUGINS = Path("/usr/lib/cni")
pytestmark = [
    pytest.mark.requires_root("bridges and veths in network namespaces"),
    pytest.mark.skipif(not (PLUGINS / "bridge").exists() or shutil.which("nsenter") is None,
                       reason="needs nsenter and the CNI plugins in /usr/lib/cni"),
]


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


@dataclass
class Namespaces:
    node: str
    pods: list[str]

    def path(self, name: str) -> str:
        return f"/run/netns/{name}"


@pytest.fixture
def netns() -> Iterator[Namespaces]:
    tag = f"klcni{os.getpid() % 100000}"
    ns = Namespaces(node=f"{tag}-node", pods=[f"{tag}-p{i}" for i in range(3)])
    for name in [ns.node, *ns.pods]:
        sh("ip", "netns", "add", name)
    try:
        yield ns
    finally:
        for name in [*ns.pods, ns.node]:
            sh("ip", "netns", "del", name, check=False)


def in_ns(ns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *argv, check=False)


@dataclass
class PM:
    container_port: int
    host_port: int
    protocol: str = "TCP"
    host_ip: str = ""


async def test_add_gives_pods_ips_on_the_bridge_and_delete_is_idempotent(netns: Namespaces, tmp_path: Path) -> None:
    cidr_future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def pod_cidr() -> str:
        return await cidr_future

    net = CniNetwork(pod_cidr, state_dir=tmp_path / "cni", node_netns=netns.path(netns.node))
    first = asyncio.create_task(net.add("pod0", netns.path(netns.pods[0]), pod_name="a", pod_namespace="default"))
    await asyncio.sleep(0)
    assert not first.done(), "ADD must wait for the node's podCIDR"
    cidr_future.set_result("10.244.7.0/24")
    ip0 = await first
    ip1 = await net.add("pod1", netns.path(netns.pods[1]), port_mappings=[PM(80, 18080)])
    assert ip0.startswith("10.244.7.") and ip1.startswith("10.244.7.") and ip0 != ip1

    conflist = json.loads((tmp_path / "cni" / "10-kubelite.conflist").read_text())
    assert [p["type"] for p in conflist["plugins"]] == ["bridge", "portmap"]
    assert conflist["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.7.0/24"}]]

    addr = in_ns(netns.pods[0], "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    assert f"{ip0}/24" in addr
    assert "UP" in in_ns(netns.pods[0], "ip", "link", "show", "lo").stdout
    assert "10.244.7.1/24" in in_ns(netns.node, "ip", "-4", "-o", "addr", "show", "dev", "kube0").stdout
    ping = in_ns(netns.pods[0], "busybox", "ping", "-c", "1", "-W", "2", ip1)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    nat = in_ns(netns.node, "iptables", "-t", "nat", "-S").stdout
    assert "kubelite: masquerade pod traffic leaving the cluster CIDR" in nat
    assert "! -d 10.244.0.0/16" in nat and "18080" in nat
    assert in_ns(netns.node, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables").stdout.strip() == "1"

    await net.delete("pod1", netns.path(netns.pods[1]))
    await net.delete("pod1", netns.path(netns.pods[1]))  # idempotent
    assert "eth0" not in in_ns(netns.pods[1], "ip", "link").stdout
    assert "18080" not in in_ns(netns.node, "iptables", "-t", "nat", "-S").stdout
    # The released address is handed out again; a netns that is already gone is fine for DEL.
    sh("ip", "netns", "del", netns.pods[0])
    await net.delete("pod0", netns.path(netns.pods[0]))
    sh("ip", "netns", "add", netns.pods[0])
    again = await net.add("pod2", netns.path(netns.pods[2]))
    assert again in (ip0, ip1) or again.startswith("10.244.7.")
    await net.delete("pod2", netns.path(netns.pods[2]))
    await net.delete("never-added", netns.path(netns.pods[2]))


async def test_clear_errors(netns: Namespaces, tmp_path: Path) -> None:
    with pytest.raises(CniError, match="invalid node podCIDR"):
        CniNetwork("10.244.1.0/33", state_dir=tmp_path)
    net = CniNetwork("10.244.8.0/24", state_dir=tmp_path / "a", node_netns=netns.path(netns.node))
    with pytest.raises(CniError, match="does not exist"):
        await net.add("x1", "/run/netns/definitely-not-there")
    bad = CniNetwork("10.244.8.0/24", plugin_dir=tmp_path / "none", state_dir=tmp_path / "b",
                     node_netns=netns.path(netns.node))
    with pytest.raises(CniError, match="not found in .*containernetworking-plugins"):
        await bad.add("x2", netns.path(netns.pods[0]))
    # A second ADD of an interface that already exists is refused by the plugin, with its reason.
    await net.add("x3", netns.path(netns.pods[1]))
    with pytest.raises(CniError, match="CNI plugin bridge ADD failed"):
        await net.add("x4", netns.path(netns.pods[1]))
    await net.delete("x3", netns.path(netns.pods[1]))

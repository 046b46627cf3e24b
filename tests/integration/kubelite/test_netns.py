"""Node network namespaces on a host bridge: made, reachable, idempotent, removed without a trace."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from kubelite import netns

pytestmark = [pytest.mark.requires_root("network namespaces and iptables"),
              pytest.mark.skipif(netns.missing_tools() != [], reason="needs iproute2, iptables, nsenter")]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True)


@pytest.fixture
def state() -> Iterator[netns.NetworkState]:
    st = netns.plan_network(200 + os.getpid() % 50, [f"t{os.getpid() % 10000}-a", f"t{os.getpid() % 10000}-b"])
    try:
        yield st
    finally:
        netns.delete_network(st)


def test_plan_names_and_addresses() -> None:
    st = netns.plan_network(0, ["node-1", "node-2", "node-3"])
    assert st.bridge == "kl-br0" and st.host_ip == "10.88.0.1"
    assert [(n.netns, n.ip) for n in st.nodes] == [
        ("kl-node-1", "10.88.0.11"), ("kl-node-2", "10.88.0.12"), ("kl-node-3", "10.88.0.13")]
    assert netns.plan_network(7, ["node-1"]).nodes[0].netns == "kl7-node-1"
    assert netns.NetworkState.from_dict(st.to_dict()) == st
    with pytest.raises(ValueError):
        netns.plan_network(256, ["node-1"])


def test_nodes_reach_each_other_and_the_host_and_down_removes_everything(state: netns.NetworkState) -> None:
    netns.create_network(state)
    netns.create_network(state)  # idempotent (a retried `up`)
    a, b = state.nodes
    ping = run("ip", "netns", "exec", a.netns, "busybox", "ping", "-c", "1", "-W", "2", b.ip)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    ping = run("busybox", "ping", "-c", "1", "-W", "2", a.ip)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    sysctls = run("ip", "netns", "exec", a.netns, "sysctl", "-n", "net.ipv4.ip_forward",
                  "net.bridge.bridge-nf-call-iptables").stdout.split()
    assert sysctls == ["1", "1"]
    # A command run the way kubelets are run is inside the node's network, on the host's filesystem.
    inside = run(*netns.node_exec_prefix(state, a.name), "ip", "-4", "-o", "addr", "show", "dev", "eth0")
    assert a.ip in inside.stdout
    assert len(netns.leftover_rules(state.comment)) == 2

    assert netns.delete_network(state) == []
    assert not any(netns.netns_exists(n.netns) for n in state.nodes)
    assert run("ip", "link", "show", state.bridge).returncode != 0
    assert netns.leftover_rules(state.comment) == []
    assert netns.delete_network(state) == []  # idempotent too

"""The rig's machines are separate (files, network) and routed; the VXLAN overlay connects their pods, host-gw cannot.

Pods here are network namespaces inside a machine with a veth to it and an IP
from the machine's podCIDR (what the CNI bridge plugin would give them); the
overlay is the kubelet's own VxlanSync, run in each machine from Node objects.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelet.overlay.model import ANNOTATION_BACKEND, ANNOTATION_PUBLIC_IP, ANNOTATION_VTEP_MAC, vtep_mac
from tests.rig.machines import Rig, in_use, leftovers, missing_tools
from tests.rig.plan import DATA_DIR, MAX_RIG_ID, plan_rig

pytestmark = [pytest.mark.integration, pytest.mark.requires_root("network and mount namespaces"),
              pytest.mark.skipif(missing_tools() != [], reason="needs iproute2, util-linux, procps")]

ROOT = Path(__file__).resolve().parents[3]
NET_ID = 77


def pod_cidr(i: int) -> str:
    return f"10.244.{100 + i}.0/24"


def pod_ip(i: int) -> str:
    return f"10.244.{100 + i}.2"


@pytest.fixture
def rig() -> Iterator[Rig]:
    free = [i for i in range(1, MAX_RIG_ID + 1) if not in_use(plan_rig(i, 3))]
    if not free:
        pytest.skip("every rig id is in use")
    plan = plan_rig(free[os.getpid() % len(free)], 3)
    with Rig(plan) as r:
        yield r
    assert leftovers(plan) == []


def add_pod(rig: Rig, i: int, mtu: int) -> None:
    """A pod namespace in machine i with a veth to the machine, like the CNI bridge plugin would make."""
    gw = pod_cidr(i).replace(".0/24", ".1")
    for cmd in (
        "sysctl -qw net.ipv4.ip_forward=1",
        "ip netns add pod",
        "ip link add vpod mtu {mtu} type veth peer name eth0 mtu {mtu} netns pod",
        f"ip addr add {gw}/24 dev vpod",
        "ip link set vpod up",
        f"ip -n pod addr add {pod_ip(i)}/24 dev eth0",
        "ip -n pod link set eth0 up",
        "ip -n pod link set lo up",
        f"ip -n pod route add default via {gw}",
    ):
        rig.run(i, "sh", "-c", cmd.format(mtu=mtu))


def ping(rig: Rig, i: int, target: str, size: int = 56) -> bool:
    proc = rig.run(i, "ip", "netns", "exec", "pod", "busybox", "ping", "-c", "2", "-W", "2", "-s", str(size),
                   target, check=False)
    return proc.returncode == 0


def nodes_json(rig: Rig, cidr: Callable[[int], str] = pod_cidr) -> list[dict[str, Any]]:
    return [{"metadata": {"name": m.name, "annotations": {
        ANNOTATION_BACKEND: "vxlan", ANNOTATION_VTEP_MAC: vtep_mac(m.address), ANNOTATION_PUBLIC_IP: m.address}},
        "spec": {"podCIDR": cidr(m.index)},
        "status": {"addresses": [{"type": "InternalIP", "address": m.address}]}} for m in rig.plan.machines]


def run_agent(rig: Rig, i: int, nodes: list[dict[str, Any]], net_id: int = NET_ID,
              cidr: Callable[[int], str] = pod_cidr) -> dict[str, Any]:
    m = rig.plan.machine(i)
    path = rig.plan.base / f"nodes-{i}.json"
    path.write_text(json.dumps(nodes))
    proc = rig.run(i, "env", f"PYTHONPATH={ROOT}", "python", "-m", "tests.rig.overlay_agent", "--node", m.name,
                   "--public-ip", m.address, "--pod-cidr", cidr(i), "--nodes", str(path),
                   "--net-id", str(net_id), timeout=60)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_machines_have_private_files_and_only_routed_links(rig: Rig) -> None:
    m1, m2 = rig.plan.machine(1), rig.plan.machine(2)
    rig.run(1, "sh", "-c", f"echo one > {DATA_DIR}/mine; touch /etc/only-m1; echo x > /run/only-m1")
    seen = rig.run(2, "sh", "-c", f"ls {DATA_DIR}/mine /etc/only-m1 /run/only-m1 2>&1; true").stdout
    assert seen.count("No such file") == 3
    assert not Path("/etc/only-m1").exists() and not Path("/run/only-m1").exists()
    assert rig.run(1, "cat", "/etc/hostname").stdout.strip() == "m1"
    # Different subnets: the other machine is reached through the router (TTL decremented once) ...
    out = rig.run(1, "busybox", "ping", "-c", "1", "-W", "2", m2.address).stdout
    assert re.search(r"ttl=63", out), out
    # ... and is not on-link, so host-gw (`podCIDR via <node IP>`) cannot even be installed.
    proc = rig.run(1, "ip", "route", "add", pod_cidr(2), "via", m2.address, check=False)
    assert proc.returncode != 0 and "gateway" in proc.stderr.lower(), proc.stderr
    # Cutting a machine's link isolates it until healed.
    rig.cut(2)
    assert rig.run(1, "busybox", "ping", "-c", "1", "-W", "1", m2.address, check=False).returncode != 0
    rig.heal(2)
    deadline = time.monotonic() + 10
    while rig.run(1, "busybox", "ping", "-c", "1", "-W", "1", m2.address, check=False).returncode != 0:
        assert time.monotonic() < deadline, "machine 2 unreachable after heal"
    assert m1.address != m2.address


def test_overlay_connects_pods_across_the_router_and_is_removed_cleanly(rig: Rig) -> None:
    nodes = nodes_json(rig)
    results = {i: run_agent(rig, i, nodes) for i in (1, 2, 3)}
    mtu = results[1]["pod_mtu"]
    assert mtu == 1500 - 50
    assert results[1]["annotations"][ANNOTATION_VTEP_MAC] == vtep_mac(rig.plan.machine(1).address)
    for i in (1, 2, 3):
        add_pod(rig, i, mtu)
    # Without the overlay the pods' packets go to the router, which knows no pod network.
    for i in (1, 2, 3):
        rig.run(i, "ip", "link", "set", f"kl-vx{NET_ID}", "down")
    assert not ping(rig, 1, pod_ip(2))
    for i in (1, 2, 3):  # the device bounce flushed its routes and neighbours: a sync puts them back
        rig.run(i, "ip", "link", "set", f"kl-vx{NET_ID}", "up")
        readded = run_agent(rig, i, nodes)["changes"]
        assert {c.split()[:2][1] for c in readded} == {"neigh", "route"}, readded
    assert run_agent(rig, 1, nodes)["changes"] == []  # in step now: nothing re-applied
    routes = rig.run(1, "ip", "route", "show", "dev", f"kl-vx{NET_ID}").stdout
    assert f"{pod_cidr(2)} via {pod_cidr(2)[:-3]} proto 213 onlink" in routes, routes
    for src, dst in ((1, 2), (2, 3), (3, 1)):
        assert ping(rig, src, pod_ip(dst)), f"pod on m{src} cannot reach the pod on m{dst}"
    assert ping(rig, 1, pod_ip(2), size=mtu - 28)  # a full-MTU packet fits the encapsulation
    # Machine 3 leaves: the others drop its route, neighbour and FDB entries.
    changes = run_agent(rig, 1, nodes[:2])["changes"]
    assert sorted(c.split()[1] for c in changes) == ["fdb", "neigh", "route"], changes
    assert not ping(rig, 1, pod_ip(3))
    assert ping(rig, 1, pod_ip(2))
    # A second cluster (another net id) on the same machines: its own VTEP beside ours on the same port;
    # removing it leaves ours and its entries alone.
    other_cidr: Callable[[int], str] = lambda i: f"10.245.{100 + i}.0/24"  # noqa: E731
    other = f"kl-vx{NET_ID + 1}"
    for i in (1, 2):
        run_agent(rig, i, nodes_json(rig, other_cidr)[:2], NET_ID + 1, other_cidr)
    assert f"{other_cidr(2)} via" in rig.run(1, "ip", "route", "show", "dev", other).stdout
    rig.run(1, "env", f"PYTHONPATH={ROOT}", "python", "-m", "tests.rig.overlay_agent", "--cleanup",
            "--net-id", str(NET_ID + 1), timeout=60)
    assert other not in rig.run(1, "ip", "link").stdout
    assert f"{pod_cidr(2)} via" in rig.run(1, "ip", "route", "show", "dev", f"kl-vx{NET_ID}").stdout
    assert ping(rig, 1, pod_ip(2))
    # Removal leaves nothing of the overlay on the machine.
    rig.run(1, "env", f"PYTHONPATH={ROOT}", "python", "-m", "tests.rig.overlay_agent", "--cleanup",
            "--net-id", str(NET_ID), timeout=60)
    assert f"kl-vx{NET_ID}" not in rig.run(1, "ip", "link").stdout
    assert "proto 213" not in rig.run(1, "ip", "route").stdout

"""Routes to other nodes' podCIDRs: what is wanted, and the `ip` commands a sync runs."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from kubelet.routes import Route, RouteSync, desired_routes, needs_kernel_check, plan_routes
from kubelite.api import Node
from kubelite.client import ApiClient


def node(name: str, ip: str | None, cidr: str | None) -> Node:
    d: dict[str, Any] = {"metadata": {"name": name}, "spec": {}, "status": {}}
    if cidr:
        d["spec"]["podCIDR"] = cidr
    if ip:
        d["status"]["addresses"] = [{"type": "InternalIP", "address": ip}]
    return Node.from_dict(d)


NODES = [node("node-1", "10.88.0.11", "10.244.1.0/24"), node("node-2", "10.88.0.12", "10.244.2.0/24"),
         node("node-3", "10.88.0.13", None), node("node-4", None, "10.244.4.0/24")]


def test_desired_routes_cover_other_nodes_with_cidr_and_ip() -> None:
    svc = Route("10.96.0.0/12", dev="eth0")
    assert desired_routes(NODES, "node-1", svc) == {
        "10.96.0.0/12": svc,
        "10.244.2.0/24": Route("10.244.2.0/24", via="10.88.0.12"),
    }
    assert set(desired_routes(NODES, "node-2", None)) == {"10.244.1.0/24"}


def test_plan_replaces_missing_and_moved_routes_and_deletes_unwanted_ones() -> None:
    svc = Route("10.96.0.0/12", dev="eth0")
    want = {svc.dst: svc, "10.244.2.0/24": Route("10.244.2.0/24", via="10.88.0.12"),
            "10.244.3.0/24": Route("10.244.3.0/24", via="10.88.0.13")}
    have = {"10.96.0.0/12": Route("10.96.0.0/12", dev="eth1"),  # the node IP moved to another interface
            "10.244.2.0/24": Route("10.244.2.0/24", via="10.88.0.12", dev="eth0"),  # right: any device
            "10.244.3.0/24": Route("10.244.3.0/24", via="10.88.0.99", dev="eth0"),  # node-3's IP changed
            "10.244.9.0/24": Route("10.244.9.0/24", via="10.88.0.19", dev="eth0")}  # node gone
    plan = plan_routes(want, have)
    assert plan.replace == (svc, want["10.244.3.0/24"]) and plan.delete == ("10.244.9.0/24",)
    assert not plan_routes(want, dict(want))


def test_kernel_is_read_only_for_a_change_a_failure_or_a_due_check() -> None:
    want = {"10.244.2.0/24": Route("10.244.2.0/24", via="10.88.0.12")}
    assert not needs_kernel_check(want, dict(want), now=10.0, check_due=30.0)
    assert needs_kernel_check(want, None, now=10.0, check_due=30.0)  # never applied, or the last sync failed
    assert needs_kernel_check(want, {}, now=10.0, check_due=30.0)  # a Node (or its podCIDR/IP) changed
    assert needs_kernel_check(want, dict(want), now=30.0, check_due=30.0)  # periodic drift check


class FakeIp:
    """`ip` over an in-memory table of this module's routes; records every exec."""

    def __init__(self, routes: list[dict[str, Any]]) -> None:
        self.routes = {r["dst"]: r for r in routes}
        self.calls: list[list[str]] = []
        self.fail_replace = ""  # a destination whose `route replace` fails

    async def __call__(self, args: list[str]) -> tuple[int, str, str]:
        self.calls.append(args)
        if args[:4] == ["-j", "-4", "addr", "show"]:
            return 0, json.dumps([{"ifname": "eth0", "addr_info": [{"local": "10.88.0.11"}]}]), ""
        if args[:4] == ["-j", "-4", "route", "show"]:
            return 0, json.dumps(list(self.routes.values())), ""
        if args[:2] == ["route", "replace"]:
            if args[2] == self.fail_replace:
                return 2, "", "RTNETLINK answers: Network is unreachable"
            via = args[args.index("via") + 1] if "via" in args else ""
            dev = args[args.index("dev") + 1] if "dev" in args else "eth0"
            self.routes[args[2]] = {"dst": args[2], "gateway": via, "dev": dev}
        elif args[:2] == ["route", "del"]:
            self.routes.pop(args[2], None)
        return 0, "", ""

    def take(self) -> list[list[str]]:
        calls, self.calls = self.calls, []
        return calls


def heartbeat(n: Node, when: str) -> Node:
    """The Node as its kubelet's periodic status report leaves it: new conditions, same spec and addresses."""
    d = n.to_dict()
    d.setdefault("status", {})["conditions"] = [{"type": "Ready", "status": "True", "lastHeartbeatTime": when}]
    return Node.from_dict(d)


async def test_sync_adds_missing_and_removes_stale_routes_only() -> None:
    fake = FakeIp([
        {"dst": "10.244.2.0/24", "gateway": "10.88.0.12", "dev": "eth0"},  # right already
        {"dst": "10.244.9.0/24", "gateway": "10.88.0.19", "dev": "eth0"},  # node gone
    ])
    sync = RouteSync(cast(ApiClient, object()), "node-1", "10.88.0.11", ip=fake)
    for n in [*NODES, node("node-5", "10.88.0.15", "10.244.5.0/24")]:
        sync.informer.store._put(n.metadata.name or "", n)
    await sync.sync()
    changes = [c for c in fake.calls if c[0] == "route"]
    assert changes == [
        ["route", "replace", "10.96.0.0/12", "dev", "eth0", "proto", "212"],
        ["route", "replace", "10.244.5.0/24", "via", "10.88.0.15", "proto", "212"],
        ["route", "del", "10.244.9.0/24", "proto", "212"],
    ]


async def synced(resync_seconds: float) -> tuple[FakeIp, RouteSync]:
    """A route sync that has applied NODES once, over a fake `ip`."""
    fake = FakeIp([])
    sync = RouteSync(cast(ApiClient, object()), "node-1", "10.88.0.11", resync_seconds=resync_seconds, ip=fake)
    for n in NODES:
        sync.informer.store._put(n.metadata.name or "", n)
    await sync.sync()
    return fake, sync


async def test_a_status_heartbeat_execs_nothing_but_a_node_change_is_applied_at_once() -> None:
    fake, sync = await synced(3600)
    assert set(fake.routes) == {"10.96.0.0/12", "10.244.2.0/24"}
    fake.take()

    for n in NODES:  # every node reports its status: nothing the routes depend on changed
        sync.informer.store._put(n.metadata.name or "", heartbeat(n, "2026-12-07T00:01:00Z"))
        assert await sync.sync() is None
    assert fake.take() == []

    moved = node("node-2", "10.88.0.22", "10.244.2.0/24")  # node-2's InternalIP changed
    sync.informer.store._put("node-2", moved)
    await sync.sync()
    assert ["route", "replace", "10.244.2.0/24", "via", "10.88.0.22", "proto", "212"] in fake.take()
    assert fake.routes["10.244.2.0/24"]["gateway"] == "10.88.0.22"

    sync.informer.store._put("node-5", node("node-5", "10.88.0.15", "10.244.5.0/24"))  # a node joined
    await sync.sync()
    assert fake.routes["10.244.5.0/24"]["gateway"] == "10.88.0.15"
    sync.informer.store._remove("node-2")  # a node left
    await sync.sync()
    assert set(fake.routes) == {"10.96.0.0/12", "10.244.5.0/24"}


async def test_a_route_deleted_by_someone_else_comes_back_at_the_periodic_check() -> None:
    fake, sync = await synced(0.0)
    del fake.routes["10.244.2.0/24"]  # `ip route del` by an operator
    plan = await sync.sync()  # resync_seconds passed: the kernel is read again
    assert plan is not None and [r.dst for r in plan.replace] == ["10.244.2.0/24"]
    assert fake.routes["10.244.2.0/24"]["gateway"] == "10.88.0.12"


async def test_after_a_half_applied_change_the_next_sync_reads_the_kernel() -> None:
    fake, sync = await synced(3600)
    sync.informer.store._put("node-2", node("node-2", "10.88.0.22", "10.244.2.0/24"))
    sync.informer.store._put("node-5", node("node-5", "10.88.0.15", "10.244.5.0/24"))
    fake.fail_replace = "10.244.5.0/24"
    with pytest.raises(RuntimeError, match="route replace 10.244.5.0/24"):
        await sync.sync()  # node-2's route was changed, node-5's was not
    assert fake.routes["10.244.2.0/24"]["gateway"] == "10.88.0.22"
    sync.informer.store._put("node-2", NODES[1])  # both changes undone before the retry:
    sync.informer.store._remove("node-5")  # the Nodes want what was applied before the failure
    await sync.sync()
    assert fake.routes["10.244.2.0/24"]["gateway"] == "10.88.0.12"

"""Routes to other nodes' podCIDRs: what is wanted, and the `ip` commands a sync runs."""

from __future__ import annotations

import json
from typing import Any, cast

from kubelet.routes import Route, RouteSync, desired_routes
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


class FakeIp:
    def __init__(self, routes: list[dict[str, Any]]) -> None:
        self.routes = routes
        self.calls: list[list[str]] = []

    async def __call__(self, args: list[str]) -> tuple[int, str, str]:
        self.calls.append(args)
        if args[:4] == ["-j", "-4", "addr", "show"]:
            return 0, json.dumps([{"ifname": "eth0", "addr_info": [{"local": "10.88.0.11"}]}]), ""
        if args[:4] == ["-j", "-4", "route", "show"]:
            return 0, json.dumps(self.routes), ""
        return 0, "", ""


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

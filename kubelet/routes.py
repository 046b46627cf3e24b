"""Routes to the other nodes' pods (host-gw), kept in step with the Nodes in the API.

Why the kubelet does it: each node's pods live behind its own bridge in its
own /24; a packet for a pod on another node must be sent to that node's IP,
which then forwards it onto its bridge. No overlay, no encapsulation: one
route per other node, `<podCIDR> via <InternalIP>`, in the network namespace
the kubelet runs in (the node). Plus one route covering the Service ClusterIP
range, so that a connection from the node to a ClusterIP finds a route before
the proxy's DNAT rewrites it.

Only routes this module made are ever touched: they carry their own routing
protocol number (`proto 212`), so a resync can list them, add what is
missing and delete what no longer matches a Node, without disturbing other
routes of the node.

Decide first, exec only for a change: every node reports its status every
minute, and each report is a Node event on every kubelet. Listing the kernel's
routes on each of them cost two `ip` execs per event per node (O(nodes^2)
execs cluster-wide, for heartbeats that change conditions and timestamps, not
podCIDRs or addresses). A sync therefore first computes the wanted routes from
the informer (`desired_routes`, pure) and stops when they equal what it last
applied; only a change, or the periodic check for routes changed by someone
else, reads the kernel and applies `plan_routes`' difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kubelite.api import Node
from kubelite.client import ApiClient, Informer

log = logging.getLogger(__name__)

ROUTE_PROTO = "212"
SERVICE_CIDR = "10.96.0.0/12"

IpRunner = Callable[[list[str]], Awaitable[tuple[int, str, str]]]
"""Runs `ip ARGS...`; returns (exit code, stdout, stderr). Injected by tests."""


async def run_ip(args: list[str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


@dataclass(frozen=True)
class Route:
    dst: str
    via: str = ""  # "" -> on-link through `dev`
    dev: str = ""

    def args(self) -> list[str]:
        out = [self.dst]
        if self.via:
            out += ["via", self.via]
        if self.dev:
            out += ["dev", self.dev]
        return out


def _internal_ip(node: Node) -> str | None:
    for addr in node.status.addresses:
        if addr.type == "InternalIP" and addr.address:
            return addr.address
    return None


def desired_routes(nodes: list[Node], self_name: str, service_route: Route | None,
                   pod_routes: bool = True) -> dict[str, Route]:
    """dst -> route for every other node with a podCIDR and an InternalIP, plus the Service range.

    Without `pod_routes` (the VXLAN overlay routes the pods, see `kubelet.overlay`) only the Service range.
    """
    out: dict[str, Route] = {}
    if service_route is not None:
        out[service_route.dst] = service_route
    if not pod_routes:
        return out
    own_ips = {_internal_ip(n) for n in nodes if n.metadata.name == self_name} - {None}
    for node in sorted(nodes, key=lambda n: n.metadata.name or ""):
        if node.metadata.name == self_name or node.metadata.deletion_timestamp:
            continue
        via = _internal_ip(node)
        cidrs = node.spec.pod_cidrs or ([node.spec.pod_cidr] if node.spec.pod_cidr else [])
        if not via or via in own_ips:
            continue
        for cidr in cidrs:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                log.warning("ignoring a bad podCIDR", extra={"node": node.metadata.name, "podCIDR": cidr})
                continue
            if net.version == 4:
                out[str(net)] = Route(str(net), via=via)
    return out


@dataclass(frozen=True)
class RoutePlan:
    """The `ip` changes that bring the kernel's routes (ours, `proto 212`) to the wanted set."""

    replace: tuple[Route, ...] = ()  # missing, or pointing elsewhere
    delete: tuple[str, ...] = ()  # destinations no Node wants any more

    def __bool__(self) -> bool:
        return bool(self.replace or self.delete)


def plan_routes(want: dict[str, Route], have: dict[str, Route]) -> RoutePlan:
    """What to replace and delete so that `have` (read from the kernel) becomes `want`.

    A wanted route without a device matches a kernel route of any device: the kernel fills
    in the one it resolved the gateway on.
    """
    replace = tuple(route for dst, route in want.items()
                    if (old := have.get(dst)) is None or old.via != route.via
                    or (route.dev != "" and old.dev != route.dev))
    return RoutePlan(replace, tuple(sorted(have.keys() - want.keys())))


def needs_kernel_check(want: dict[str, Route], applied: dict[str, Route] | None, now: float,
                       check_due: float) -> bool:
    """Whether a sync must read (and maybe change) the kernel's routes.

    Not when the wanted routes are the ones last applied and the last check is recent: a
    Node event that changed no podCIDR, InternalIP or membership (a status heartbeat) then
    needs no exec. `applied` is None before the first success and after a failure.
    """
    return applied is None or want != applied or now >= check_due


async def sync_forever(sync: Callable[[], Awaitable[Any]], dirty: asyncio.Event, resync_seconds: float,
                       what: str, synced: asyncio.Event | None = None) -> None:
    """Until cancelled: run `sync` whenever `dirty` is set and every `resync_seconds` anyway.

    A failed sync is logged and retried a second later; `synced` is set after the first success.
    Shared by the node's network syncs (host-gw routes, the VXLAN overlay).
    """
    while True:
        dirty.clear()
        try:
            await sync()
            if synced is not None:
                synced.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s sync failed: %s", what, exc, extra={"what": what})
            await asyncio.sleep(1.0)
            dirty.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(dirty.wait(), resync_seconds)


class RouteSync:
    """Watches Nodes and keeps this node's routes to the others' podCIDRs (and the Service range).

    The kernel is read and changed at once when the wanted routes change, and checked for
    drift (routes deleted or changed by someone else) when `resync_seconds` have passed
    since the last check: by the periodic sync of a quiet informer, or by the first Node
    event after that.
    """

    def __init__(
        self,
        client: ApiClient,
        node_name: str,
        node_ip: str,
        service_cidr: str = SERVICE_CIDR,
        resync_seconds: float = 30.0,
        ip: IpRunner = run_ip,
        pod_routes: bool = True,
    ) -> None:
        self.node_name = node_name
        self.pod_routes = pod_routes
        self.node_ip = node_ip
        self.service_cidr = service_cidr
        self.resync_seconds = resync_seconds
        self.ip = ip
        self.informer: Informer[Node] = Informer(client, Node)
        self.informer.add_handlers(lambda _n: self._dirty.set(), lambda _o, _n: self._dirty.set(),
                                   lambda _n: self._dirty.set())
        self._dirty = asyncio.Event()
        self.synced = asyncio.Event()  # set after the first successful sync (tests, readiness)
        self._applied: dict[str, Route] | None = None  # the routes the last successful check left in place
        self._device = ""  # the node IP's interface at that check (the Service range route's)
        self._check_due = 0.0  # loop time from which the kernel must be read again

    async def run(self) -> None:
        """Until cancelled: sync after every Node change, and every `resync_seconds` anyway."""
        task = asyncio.create_task(self.informer.run(), name="route-node-informer")
        try:
            await self.informer.wait_synced()
            await sync_forever(self.sync, self._dirty, self.resync_seconds, "route", self.synced)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _node_device(self) -> str:
        """The interface that holds the node IP (where the Service range route points)."""
        code, out, err = await self.ip(["-j", "-4", "addr", "show"])
        if code != 0:
            raise RuntimeError(f"ip addr show failed: {err.strip()}")
        for link in json.loads(out or "[]"):
            for addr in link.get("addr_info", []):
                if addr.get("local") == self.node_ip:
                    return str(link.get("ifname", ""))
        raise RuntimeError(f"no interface holds the node IP {self.node_ip}")

    async def current_routes(self) -> dict[str, Route]:
        code, out, err = await self.ip(["-j", "-4", "route", "show", "proto", ROUTE_PROTO])
        if code != 0:
            raise RuntimeError(f"ip route show failed: {err.strip()}")
        routes: dict[str, Route] = {}
        for r in json.loads(out or "[]"):
            dst = str(r.get("dst", ""))
            if dst and "/" not in dst and dst != "default":
                dst += "/32"
            routes[dst] = Route(dst, via=str(r.get("gateway", "")), dev=str(r.get("dev", "")))
        return routes

    def _want(self, device: str) -> dict[str, Route]:
        service = Route(self.service_cidr, dev=device) if self.service_cidr else None
        return desired_routes(self.informer.store.list(), self.node_name, service, self.pod_routes)

    async def sync(self) -> RoutePlan | None:
        """Bring the routes in line with the Nodes; the plan applied, None when the kernel was not read."""
        now = asyncio.get_running_loop().time()
        if not needs_kernel_check(self._want(self._device), self._applied, now, self._check_due):
            return None
        self._applied = None  # until this check succeeds: a retry after a failure must read the kernel
        self._device = await self._node_device()
        want = self._want(self._device)
        plan = plan_routes(want, await self.current_routes())
        for route in plan.replace:
            code, _, err = await self.ip(["route", "replace", *route.args(), "proto", ROUTE_PROTO])
            if code != 0:
                raise RuntimeError(f"ip route replace {' '.join(route.args())} failed: {err.strip()}")
            log.info("route added", extra={"node": self.node_name, "dst": route.dst,
                                           "via": route.via or route.dev})
        for dst in plan.delete:
            code, _, err = await self.ip(["route", "del", dst, "proto", ROUTE_PROTO])
            if code != 0 and "No such process" not in err:
                raise RuntimeError(f"ip route del {dst} failed: {err.strip()}")
            log.info("route removed", extra={"node": self.node_name, "dst": dst})
        self._applied, self._check_due = want, now + self.resync_seconds
        return plan

    async def cleanup(self) -> None:
        """Remove every route this module made (a node leaving the cluster)."""
        self._applied = None
        for dst in (await self.current_routes()):
            await self.ip(["route", "del", dst, "proto", ROUTE_PROTO])

"""The kernel side of the overlay: the VTEP device and its routes, neighbour and FDB entries, over netlink.

Why pyroute2 rather than running `ip`/`bridge`: the applier lists and changes
dozens of entries per sync; one netlink socket does that without a process
per entry, returns structured attributes instead of text to parse, and the
same code can work on another network namespace (`netns=`) for `kubelite down`.
Its asyncio API (`AsyncIPRoute`) is used because the kubelet is an asyncio
program (the blocking `IPRoute` cannot run inside a running event loop).

Only entries on our own VTEP device are ever listed or touched, and only routes
with our routing protocol number, so another cluster's VTEP (another net id)
and every other route of the machine are left alone.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from kubelet.overlay.plan import Change, OverlayState

ROUTE_PROTO = 213  # host-gw routes use 212 (kubelet.routes); these are the overlay's
RTNH_F_ONLINK = 4
NUD_PERMANENT = 0x80
MAIN_TABLE = 254
_GONE = (errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL, errno.ENODEV)


def _netlink_error() -> type[Exception]:
    from pyroute2.netlink.exceptions import NetlinkError

    return NetlinkError  # type: ignore[no-any-return]


class OverlayError(Exception):
    """A netlink step failed; the message names the step and the kernel's reason."""


@dataclass(frozen=True)
class PublicLink:
    """The interface that holds the node's public IP (VXLAN packets leave through it)."""

    index: int
    name: str
    mtu: int


@dataclass(frozen=True)
class VtepSpec:
    name: str
    vni: int
    port: int
    local_ip: str
    link_index: int
    mac: str
    mtu: int


class NetlinkLike(Protocol):
    """What the overlay sync needs of the kernel (a fake in unit tests)."""

    async def public_link(self, ip: str) -> PublicLink: ...

    async def ensure_vtep(self, spec: VtepSpec) -> bool:
        """Create the VTEP or bring it in line with `spec`; True when it was (re)created."""
        ...

    async def read_state(self, device: str) -> OverlayState | None:
        """The device's entries, or None when the device does not exist."""
        ...

    async def apply(self, device: str, changes: list[Change]) -> None: ...

    async def delete_vtep(self, device: str) -> bool:
        """Remove the device (and with it every entry on it); False when there was none."""
        ...


async def _collect(result: Awaitable[Any]) -> list[Any]:
    """pyroute2 answers a request with a list or an async generator, depending on the call."""
    got = await result
    if isinstance(got, list):
        return got
    return [item async for item in got]


def _vxlan_data(link: Any) -> tuple[str, Any]:
    info = link.get_attr("IFLA_LINKINFO")
    if info is None:
        return "", None
    return str(info.get_attr("IFLA_INFO_KIND") or ""), info.get_attr("IFLA_INFO_DATA")


class Pyroute2Netlink:
    """`NetlinkLike` on the current network namespace, or on the named one (`/run/netns/<netns>`)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns

    def _open(self) -> Any:
        # Imported here: pyroute2 takes ~0.5 s to import, which only nodes using the overlay should pay
        # (every `kubelite` command and host-gw kubelet imports this module).
        from pyroute2 import AsyncIPRoute

        return AsyncIPRoute(netns=self.netns) if self.netns else AsyncIPRoute()

    async def _index(self, ip: Any, name: str) -> int | None:
        found = await ip.link_lookup(ifname=name)
        return int(found[0]) if found else None

    async def public_link(self, address: str) -> PublicLink:
        async with self._open() as ip:
            for addr in await _collect(ip.addr("dump", family=socket.AF_INET)):
                if addr.get_attr("IFA_LOCAL") == address or addr.get_attr("IFA_ADDRESS") == address:
                    link = (await _collect(ip.link("get", index=addr["index"])))[0]
                    return PublicLink(int(addr["index"]), str(link.get_attr("IFLA_IFNAME")),
                                      int(link.get_attr("IFLA_MTU")))
        raise OverlayError(f"no interface holds the node's public IP {address}")

    async def ensure_vtep(self, spec: VtepSpec) -> bool:
        try:
            async with self._open() as ip:
                index = await self._index(ip, spec.name)
                if index is not None and not await self._matches(ip, index, spec):
                    await ip.link("del", index=index)
                    index = None
                created = index is None
                if created:
                    await ip.link("add", ifname=spec.name, kind="vxlan", vxlan_id=spec.vni,
                                  vxlan_link=spec.link_index, vxlan_local=spec.local_ip, vxlan_port=spec.port,
                                  vxlan_learning=0, address=spec.mac, mtu=spec.mtu)
                    index = await self._index(ip, spec.name)
                    if index is None:
                        raise OverlayError(f"VTEP {spec.name} vanished right after it was created")
                link = (await _collect(ip.link("get", index=index)))[0]
                if link.get_attr("IFLA_ADDRESS") != spec.mac or link.get_attr("IFLA_MTU") != spec.mtu:
                    await ip.link("set", index=index, address=spec.mac, mtu=spec.mtu)
                await ip.link("set", index=index, state="up")
                return created
        except _netlink_error() as exc:
            raise OverlayError(f"cannot set up VTEP {spec.name} (VNI {spec.vni}, port {spec.port}): "
                               f"{exc.args[-1] if exc.args else exc}") from None

    async def _matches(self, ip: Any, index: int, spec: VtepSpec) -> bool:
        """Whether the existing device is a VXLAN with our VNI, port, local address and lower link."""
        link = (await _collect(ip.link("get", index=index)))[0]
        kind, data = _vxlan_data(link)
        if kind != "vxlan" or data is None:
            return False
        return bool(data.get_attr("IFLA_VXLAN_ID") == spec.vni and data.get_attr("IFLA_VXLAN_PORT") == spec.port
                    and data.get_attr("IFLA_VXLAN_LOCAL") == spec.local_ip
                    and data.get_attr("IFLA_VXLAN_LINK") == spec.link_index
                    and not data.get_attr("IFLA_VXLAN_LEARNING"))

    async def read_state(self, device: str) -> OverlayState | None:
        async with self._open() as ip:
            index = await self._index(ip, device)
            if index is None:
                return None
            routes: dict[str, str] = {}
            for r in await _collect(ip.route("dump", family=socket.AF_INET, oif=index)):
                if r["proto"] != ROUTE_PROTO or r.get_attr("RTA_TABLE") not in (None, MAIN_TABLE):
                    continue
                routes[f"{r.get_attr('RTA_DST') or '0.0.0.0'}/{r['dst_len']}"] = str(r.get_attr("RTA_GATEWAY") or "")
            neighs = {
                str(n.get_attr("NDA_DST")): str(n.get_attr("NDA_LLADDR") or "")
                for n in await _collect(ip.neigh("dump", ifindex=index, family=socket.AF_INET))
                if n["ifindex"] == index and n["state"] & NUD_PERMANENT and n.get_attr("NDA_DST")
            }
            fdb = {
                str(f.get_attr("NDA_LLADDR")): str(f.get_attr("NDA_DST"))
                for f in await _collect(ip.fdb("dump", ifindex=index))
                if f["ifindex"] == index and f.get_attr("NDA_DST") and f["state"] & NUD_PERMANENT
                and f.get_attr("NDA_LLADDR") != "00:00:00:00:00:00"
            }
            addrs = frozenset(
                f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                for a in await _collect(ip.addr("dump", index=index, family=socket.AF_INET))
                if a["index"] == index
            )
            return OverlayState(routes=routes, neighs=neighs, fdb=fdb, addrs=addrs)

    async def apply(self, device: str, changes: list[Change]) -> None:
        if not changes:
            return
        async with self._open() as ip:
            index = await self._index(ip, device)
            if index is None:
                raise OverlayError(f"VTEP {device} does not exist")
            for change in changes:
                try:
                    await self._apply_one(ip, index, change)
                except _netlink_error() as exc:
                    if change.op == "del" and getattr(exc, "code", None) in _GONE:
                        continue
                    raise OverlayError(f"{change} on {device}: {exc.args[-1] if exc.args else exc}") from None

    @staticmethod
    async def _apply_one(ip: Any, index: int, change: Change) -> None:
        op = change.op
        if change.kind == "route":
            net = ipaddress.ip_network(change.key)
            kw: dict[str, Any] = {"dst": str(net.network_address), "dst_len": net.prefixlen, "oif": index,
                                  "proto": ROUTE_PROTO, "table": MAIN_TABLE}
            if op == "del":
                await ip.route("del", **kw)
            else:
                await ip.route("replace", gateway=change.value, flags=RTNH_F_ONLINK, **kw)
        elif change.kind == "neigh":
            if op == "del":
                await ip.neigh("del", dst=change.key, ifindex=index)
            else:
                await ip.neigh("replace", dst=change.key, lladdr=change.value, ifindex=index, state=NUD_PERMANENT)
        elif change.kind == "fdb":
            await ip.fdb("del" if op == "del" else "append", ifindex=index, lladdr=change.key, dst=change.value,
                         state=NUD_PERMANENT)
        else:
            address, _, prefix = change.key.partition("/")
            await ip.addr("del" if op == "del" else "replace", index=index, address=address,
                          prefixlen=int(prefix or 32))

    async def delete_vtep(self, device: str) -> bool:
        async with self._open() as ip:
            index = await self._index(ip, device)
            if index is None:
                return False
            try:
                await ip.link("del", index=index)
            except _netlink_error() as exc:
                if getattr(exc, "code", None) in _GONE:
                    return False
                raise OverlayError(f"cannot delete VTEP {device}: {exc.args[-1] if exc.args else exc}") from None
            return True

"""The overlay planner: peers -> the kernel state the VTEP should have, and the steps from what it has.

Why pure: which routes, neighbour and FDB entries a node needs, and in which
order to change them, is all the logic there is; the netlink side only lists
and executes. Order matters so that traffic never meets a half-built path: a
new peer gets its FDB entry (MAC -> public IP) and neighbour entry (VTEP IP ->
MAC) before the route that makes the kernel use them; a leaving peer loses its
route first, then the entries behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from kubelet.overlay.model import Peer, vtep_ip

Kind = Literal["addr", "fdb", "neigh", "route"]
Op = Literal["add", "replace", "del"]
ADD_ORDER: tuple[Kind, ...] = ("addr", "fdb", "neigh", "route")


@dataclass(frozen=True)
class OverlayState:
    """Entries on one VTEP device, each keyed the way the kernel keys it.

    routes: podCIDR -> gateway (the peer VTEP IP; always `onlink` on the VTEP)
    neighs: peer VTEP IP -> peer VTEP MAC (permanent)
    fdb:    peer VTEP MAC -> peer public IP (permanent)
    addrs:  this node's VTEP address(es) as "IP/32"
    """

    routes: dict[str, str] = field(default_factory=dict)
    neighs: dict[str, str] = field(default_factory=dict)
    fdb: dict[str, str] = field(default_factory=dict)
    addrs: frozenset[str] = frozenset()

    def table(self, kind: Kind) -> dict[str, str]:
        if kind == "addr":
            return {a: "" for a in self.addrs}
        return {"route": self.routes, "neigh": self.neighs, "fdb": self.fdb}[kind]


@dataclass(frozen=True)
class Change:
    """One kernel operation on the VTEP: `key`/`value` as in `OverlayState` (value "" for deletes of addrs)."""

    kind: Kind
    op: Op
    key: str
    value: str = ""

    def __str__(self) -> str:
        return f"{self.op} {self.kind} {self.key}" + (f" -> {self.value}" if self.value else "")


def desired_state(peers: Iterable[Peer], own_pod_cidr: str | None) -> OverlayState:
    """What the VTEP must hold for `peers`; the first peer wins a podCIDR, VTEP IP or MAC claimed twice."""
    routes: dict[str, str] = {}
    neighs: dict[str, str] = {}
    fdb: dict[str, str] = {}
    for peer in peers:
        if peer.pod_cidr in routes or peer.vtep_ip in neighs or peer.vtep_mac in fdb:
            continue
        routes[peer.pod_cidr] = peer.vtep_ip
        neighs[peer.vtep_ip] = peer.vtep_mac
        fdb[peer.vtep_mac] = peer.public_ip
    if own_pod_cidr:
        own = vtep_ip(own_pod_cidr)
        # A peer claiming our own podCIDR or VTEP address would shadow our own pods: never route it.
        for cidr in [c for c, gw in routes.items() if c == own_pod_cidr or gw == own]:
            del routes[cidr]
        neighs.pop(own, None)
    addrs = frozenset({f"{vtep_ip(own_pod_cidr)}/32"}) if own_pod_cidr else frozenset()
    return OverlayState(routes=routes, neighs=neighs, fdb=fdb, addrs=addrs)


def plan_changes(want: OverlayState, have: OverlayState) -> list[Change]:
    """The steps from `have` to `want`: removals (route, neigh, fdb, addr), then additions (addr, fdb, neigh, route).

    A route or neighbour whose value changed is replaced in place (no gap); an
    FDB entry whose destination changed is deleted and added again, since the
    kernel keys FDB entries by MAC *and* destination.
    """
    removals: list[Change] = []
    additions: list[Change] = []
    for kind in ADD_ORDER:
        w, h = want.table(kind), have.table(kind)
        for key in sorted(h.keys() - w.keys()):
            removals.append(Change(kind, "del", key, h[key]))
        for key in sorted(w):
            if key not in h:
                additions.append(Change(kind, "add", key, w[key]))
            elif h[key] != w[key]:
                if kind == "fdb":
                    removals.append(Change(kind, "del", key, h[key]))
                    additions.append(Change(kind, "add", key, w[key]))
                else:
                    additions.append(Change(kind, "replace", key, w[key]))
    removals.sort(key=lambda c: -ADD_ORDER.index(c.kind))
    return removals + additions

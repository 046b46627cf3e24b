"""VxlanSync: this node's VTEP, published on its Node and kept in step with the other Nodes.

Why in the node agent: like flannel's daemon on each host, the node that owns
the VTEP is the only one that knows its MAC and public interface; it creates
the device at startup (before it registers, so the Node appears with its
annotations), and from then on every change to the Node list becomes a pure
plan (`overlay.plan`) applied over netlink (`overlay.netlink`).

The device is deliberately left in place when the kubelet stops: runc pods
outlive their kubelet, and a restart must not cut them off from the other
nodes. It goes with the node (`remove_vtep`, called by `kubelite down`; deleting
the device drops every route and entry on it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kubelet.overlay.model import ENCAP_OVERHEAD, VxlanConfig, peers_from_nodes, vtep_annotations, vtep_mac
from kubelet.overlay.netlink import NetlinkLike, Pyroute2Netlink, VtepSpec
from kubelet.overlay.plan import Change, OverlayState, desired_state, plan_changes
from kubelet.routes import sync_forever
from kubelite.api import Node
from kubelite.client import Informer

log = logging.getLogger(__name__)


class VxlanSync:
    """Owns one VTEP: `setup` creates it and returns the Node annotations, `sync` programs the peers."""

    def __init__(
        self,
        informer: Informer[Node],
        node_name: str,
        public_ip: str,
        config: VxlanConfig,
        own_pod_cidr: Callable[[], str | None],
        netlink: NetlinkLike | None = None,
    ) -> None:
        self.informer = informer
        self.node_name = node_name
        self.public_ip = public_ip
        self.config = config
        self.own_pod_cidr = own_pod_cidr
        self.netlink: NetlinkLike = netlink or Pyroute2Netlink()
        self.dirty = asyncio.Event()
        informer.add_handlers(lambda _n: self.dirty.set(), lambda _o, _n: self.dirty.set(),
                              lambda _n: self.dirty.set())
        self._spec: VtepSpec | None = None
        self._ready = asyncio.Event()

    async def setup(self) -> dict[str, str]:
        """Create (or adopt) the VTEP on the interface holding the public IP; the annotations to publish."""
        link = await self.netlink.public_link(self.public_ip)
        if link.mtu - ENCAP_OVERHEAD < 576:
            raise ValueError(f"interface {link.name} has MTU {link.mtu}: too small for VXLAN "
                             f"(needs {576 + ENCAP_OVERHEAD})")
        spec = VtepSpec(name=self.config.device, vni=self.config.vni, port=self.config.port,
                        local_ip=self.public_ip, link_index=link.index, mac=vtep_mac(self.public_ip),
                        mtu=link.mtu - ENCAP_OVERHEAD)
        if await self.netlink.ensure_vtep(spec):
            log.info("VTEP created", extra={"device": spec.name, "vni": spec.vni, "port": spec.port,
                                            "mac": spec.mac, "lower": link.name, "mtu": spec.mtu})
        self._spec = spec
        self._ready.set()
        return vtep_annotations(spec.mac, self.public_ip)

    async def pod_mtu(self) -> int:
        """The MTU pods must use so that an encapsulated packet still fits the public interface."""
        await self._ready.wait()
        assert self._spec is not None
        return self._spec.mtu

    async def sync(self) -> list[Change]:
        """Bring the VTEP's routes, neighbour and FDB entries in line with the Node list; the changes made."""
        if self._spec is None:
            await self.setup()
        else:  # re-create the device if someone deleted or changed it
            await self.netlink.ensure_vtep(self._spec)
        peers = peers_from_nodes(self.informer.store.list(), self.node_name, self.public_ip)
        want = desired_state(peers, self.own_pod_cidr())
        have = await self.netlink.read_state(self.config.device) or OverlayState()
        changes = plan_changes(want, have)
        await self.netlink.apply(self.config.device, changes)
        for change in changes:
            log.info("overlay changed", extra={"node": self.node_name, "device": self.config.device,
                                               "change": str(change)})
        return changes

    async def run(self) -> None:
        """Until cancelled: sync after every Node change and periodically (the informer is run by its owner)."""
        await self.informer.wait_synced()
        await sync_forever(self.sync, self.dirty, 30.0, f"overlay {self.config.device}")

    async def cleanup(self) -> bool:
        return await remove_vtep(self.config, self.netlink)


async def remove_vtep(config: VxlanConfig, netlink: NetlinkLike | None = None, netns: str | None = None) -> bool:
    """Delete this cluster's VTEP (every route, neighbour and FDB entry on it goes with it)."""
    return await (netlink or Pyroute2Netlink(netns)).delete_vtep(config.device)

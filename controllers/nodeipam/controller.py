"""Node IPAM: every Node gets its own podCIDR (a /24 of the cluster CIDR 10.244.0.0/16).

Why a controller and not the kubelet choosing: only one place may hand out
ranges, or two nodes could pick the same one and their pods would collide.
The allocator's memory is the Nodes themselves: after a restart it rebuilds
the set of used ranges from the synced Node cache before allocating anything
(workers only start once informers synced), so it stays consistent without a
state file. A range is reserved in memory before the write and released only
when the Node is gone (or the write is known to have failed), so two workers
can never hand out the same range even before the cache shows the first one.
"""

from __future__ import annotations

import ipaddress
import logging

from controllers.base import Controller, ControllerContext
from kubelite.api import Node
from kubelite.api.errors import Conflict, NotFound
from kubelite.client import Informer

log = logging.getLogger(__name__)

DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_NODE_MASK = 24


class CidrExhausted(Exception):
    """Every range of the cluster CIDR is in use."""


class CidrAllocator:
    """Hands out the lowest free subnet of `node_mask` bits inside `cluster_cidr`.

    The first subnet (10.244.0.0/24) is skipped, as Kubernetes' allocator
    effectively does for readability: node-1 gets 10.244.1.0/24.
    """

    def __init__(self, cluster_cidr: str = DEFAULT_CLUSTER_CIDR, node_mask: int = DEFAULT_NODE_MASK) -> None:
        self.cluster = ipaddress.IPv4Network(cluster_cidr, strict=True)
        if not self.cluster.prefixlen < node_mask <= 30:
            raise ValueError(f"node mask /{node_mask} must be longer than the cluster CIDR {cluster_cidr} "
                             "and at most /30")
        self.node_mask = node_mask
        self._used: set[ipaddress.IPv4Network] = set()

    @property
    def size(self) -> int:
        return int(2 ** (self.node_mask - self.cluster.prefixlen)) - 1

    def occupy(self, cidr: str) -> bool:
        """Mark an existing Node's range as used; False when it is not one of ours (ignored)."""
        try:
            net = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            return False
        if net.prefixlen != self.node_mask or not net.subnet_of(self.cluster):
            return False
        self._used.add(net)
        return True

    def release(self, cidr: str) -> None:
        try:
            self._used.discard(ipaddress.IPv4Network(cidr, strict=True))
        except ValueError:
            pass

    def allocate(self) -> str:
        for i, net in enumerate(self.cluster.subnets(new_prefix=self.node_mask)):
            if i == 0:
                continue
            if net not in self._used:
                self._used.add(net)
                return str(net)
        raise CidrExhausted(f"no free /{self.node_mask} left in {self.cluster} ({self.size} nodes)")

    def used(self) -> list[str]:
        return sorted(str(n) for n in self._used)


class NodeIpamController(Controller):
    """Queue keys are node names; reconcile assigns spec.podCIDR(s) to Nodes without one."""

    name = "nodeipam"
    single_worker = True

    def __init__(
        self,
        ctx: ControllerContext,
        *,
        cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
        node_mask: int = DEFAULT_NODE_MASK,
    ) -> None:
        super().__init__(ctx)
        self.recorder = ctx.recorder
        self.allocator = CidrAllocator(cluster_cidr, node_mask)
        self.nodes: Informer[Node] = ctx.factory.informer(Node)
        # node name -> CIDR reserved for it (includes writes still in flight)
        self._assigned: dict[str, str] = {}
        self.nodes.add_handlers(self._on_add, self._on_update, self._on_delete)

    def _on_add(self, node: Node) -> None:
        self._occupy(node)
        self.enqueue(node)

    def _on_update(self, _old: Node, new: Node) -> None:
        self._occupy(new)
        if not new.spec.pod_cidr:
            self.enqueue(new)

    def _on_delete(self, node: Node) -> None:
        name = node.metadata.name or ""
        cidr = self._assigned.pop(name, None) or node.spec.pod_cidr
        if cidr and cidr not in self._assigned.values():
            self.allocator.release(cidr)

    def _occupy(self, node: Node) -> None:
        """Record what a Node already has, so the range is never handed out again."""
        cidr = node.spec.pod_cidr
        if not cidr:
            return
        name = node.metadata.name or ""
        mine = self._assigned.get(name)
        if mine and mine != cidr and mine not in self._assigned_elsewhere(name):
            self.allocator.release(mine)  # someone else assigned it first: ours is free again
        if self.allocator.occupy(cidr):
            self._assigned[name] = cidr

    def _assigned_elsewhere(self, name: str) -> set[str]:
        return {c for n, c in self._assigned.items() if n != name}

    def start(self) -> None:
        # The cache is synced by now: every range in use is known before the first allocation.
        for node in self.nodes.store.list():
            self._occupy(node)
        super().start()

    async def reconcile(self, key: str) -> None:
        cached = self.nodes.store.get(key)
        if cached is None or cached.spec.pod_cidr or cached.metadata.deletion_timestamp:
            return
        try:
            node = await self.client.get(Node, key, "")
        except NotFound:
            return
        if node.spec.pod_cidr:
            self._occupy(node)
            return
        cidr = self._assigned.get(key)
        if cidr is None:
            try:
                cidr = self.allocator.allocate()
            except CidrExhausted as exc:
                log.error("cannot assign a podCIDR", extra={"node": key, "error": str(exc)})
                if self.recorder is not None:
                    self.recorder.event(node, "Warning", "CIDRNotAvailable", str(exc))
                return
            self._assigned[key] = cidr
        node.spec.pod_cidr = cidr
        node.spec.pod_cidrs = [cidr]
        try:
            await self.client.update(node)
        except NotFound:
            self._assigned.pop(key, None)
            self.allocator.release(cidr)
            return
        except Conflict:
            raise  # keep the reservation; requeued with fresher data
        log.info("assigned podCIDR", extra={"node": key, "podCIDR": cidr})
        if self.recorder is not None:
            self.recorder.event(node, "Normal", "CIDRAssignmentSucceeded", f"Node {key} got podCIDR {cidr}")

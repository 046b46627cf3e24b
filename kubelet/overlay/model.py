"""What the overlay needs from the Node objects: one `Peer` per other node, and this node's VTEP identity.

Why flatten into records: the planner then compares plain values, and every
check of a peer's annotations (missing, malformed, another backend) lives in one
place that says why a node is skipped.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass

from kubelite.api import Node

log = logging.getLogger(__name__)

ANNOTATION_BACKEND = "kubelite.io/backend-type"
ANNOTATION_VTEP_MAC = "kubelite.io/vxlan-mac"
ANNOTATION_PUBLIC_IP = "kubelite.io/public-ip"
BACKEND_VXLAN = "vxlan"
BACKEND_HOST_GW = "host-gw"
BACKENDS = (BACKEND_HOST_GW, BACKEND_VXLAN)

DEFAULT_PORT = 8472  # the Linux kernel's historic VXLAN port, as flannel uses
VNI_BASE = 4100  # VNI = base + net id: clusters with different net ids never share a VNI
ENCAP_OVERHEAD = 50  # outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14)
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@dataclass(frozen=True)
class VxlanConfig:
    """The VTEP of one cluster on one node: the net id names the device and picks the VNI."""

    net_id: int = 0
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        if not 0 <= self.net_id <= 255:
            raise ValueError(f"net id must be 0..255, got {self.net_id}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"vxlan port must be 1..65535, got {self.port}")

    @property
    def device(self) -> str:
        return f"kl-vx{self.net_id}"

    @property
    def vni(self) -> int:
        return VNI_BASE + self.net_id


@dataclass(frozen=True, order=True)
class Peer:
    """Another node reachable through the overlay."""

    pod_cidr: str  # e.g. 10.244.2.0/24
    vtep_ip: str  # the network address of pod_cidr, the peer VTEP's address
    vtep_mac: str  # lower-case aa:bb:cc:dd:ee:ff
    public_ip: str  # where its VXLAN packets go


def vtep_ip(pod_cidr: str) -> str:
    """A VTEP's address: the network address of its node's podCIDR (never given to a pod)."""
    return str(ipaddress.ip_network(pod_cidr, strict=True).network_address)


def vtep_mac(public_ip: str) -> str:
    """A stable, locally administered unicast MAC for the VTEP of the node at `public_ip`.

    Why derived rather than random: a VTEP re-created after a crash (or a kubelet
    restart on a new namespace) keeps its MAC, so the peers' neighbour and FDB
    entries stay right without waiting for the Node annotation to change.
    """
    octets = ipaddress.IPv4Address(public_ip).packed
    return ":".join(f"{b:02x}" for b in (0x0A, 0x6B, *octets))


def vtep_annotations(mac: str, public_ip: str) -> dict[str, str]:
    """What a vxlan node publishes on its Node object."""
    return {ANNOTATION_BACKEND: BACKEND_VXLAN, ANNOTATION_VTEP_MAC: mac, ANNOTATION_PUBLIC_IP: public_ip}


def _pod_cidrs(node: Node) -> list[str]:
    return node.spec.pod_cidrs or ([node.spec.pod_cidr] if node.spec.pod_cidr else [])


def node_peer(node: Node) -> tuple[Peer | None, str]:
    """The node as an overlay peer, or None and why it is not one."""
    ann = node.metadata.annotations
    if ann.get(ANNOTATION_BACKEND) != BACKEND_VXLAN:
        return None, f"{ANNOTATION_BACKEND} is not {BACKEND_VXLAN!r}"
    mac = ann.get(ANNOTATION_VTEP_MAC, "").lower()
    if not _MAC_RE.match(mac):
        return None, f"{ANNOTATION_VTEP_MAC} {mac!r} is not a MAC address"
    try:
        public = ipaddress.ip_address(ann.get(ANNOTATION_PUBLIC_IP, ""))
    except ValueError:
        return None, f"{ANNOTATION_PUBLIC_IP} {ann.get(ANNOTATION_PUBLIC_IP, '')!r} is not an IP address"
    if public.version != 4:
        return None, f"{ANNOTATION_PUBLIC_IP} must be IPv4"
    for cidr in _pod_cidrs(node):
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            continue
        if net.version == 4:
            return Peer(str(net), str(net.network_address), mac, str(public)), ""
    return None, "no IPv4 podCIDR yet"


def peers_from_nodes(nodes: list[Node], self_name: str, self_public_ip: str) -> list[Peer]:
    """Every other live vxlan node with a podCIDR, sorted; nodes that are not usable are logged and skipped.

    A node that claims our own public IP is skipped (a stale Node of this machine
    under an old name would otherwise route our own traffic back to us), and so is
    a node in deletion (its pods are going away).
    """
    peers: list[Peer] = []
    for node in nodes:
        name = node.metadata.name or ""
        if name == self_name or node.metadata.deletion_timestamp:
            continue
        peer, why = node_peer(node)
        if peer is None:
            log.debug("node is no overlay peer", extra={"peer": name, "reason": why})
            continue
        if peer.public_ip == self_public_ip:
            log.warning("node claims this node's public IP; skipped", extra={"peer": name, "ip": peer.public_ip})
            continue
        peers.append(peer)
    return sorted(peers)

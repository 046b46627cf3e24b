"""LoadBalancer addresses on a node's interface, so one node answers ARP for each (MetalLB L2 style).

Why one node per address and chosen by hash: every proxy DNATs every
LoadBalancer address, but only one machine may own an address on the link
or clients' ARP caches flap between nodes and break connections. Each proxy
computes the same owner from the same Ready node list (a hash of the address
over the sorted names), so no coordination is needed, and when the owner
stops being Ready another node takes the address over.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Iterable

from kubelite.api import Node

log = logging.getLogger("proxy.lbaddrs")

LABEL_SUFFIX = ":klb"


def ready_nodes(nodes: Iterable[Node]) -> list[str]:
    return sorted(n.metadata.name or "" for n in nodes
                  if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions))


def owned_here(addresses: Iterable[str], nodes: list[str], me: str) -> set[str]:
    """The addresses this node announces: each goes to nodes[crc32(address) % len(nodes)]."""
    if not nodes:
        return set()
    return {ip for ip in addresses if nodes[zlib.crc32(ip.encode()) % len(nodes)] == me}


async def _ip(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec("ip", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {err.decode(errors='replace').strip()}")
    return out.decode()


class AddressAnnouncer:
    """Keeps exactly the wanted /32 addresses (labelled `<dev>:klb`) on the interface holding the node IP."""

    def __init__(self, node_ip: str) -> None:
        self.node_ip = node_ip
        self._dev: str | None = None

    async def _device(self) -> str:
        if self._dev is None:
            for line in (await _ip("-o", "-4", "addr", "show")).splitlines():
                fields = line.split()
                if len(fields) > 3 and fields[3].split("/")[0] == self.node_ip:
                    self._dev = fields[1]
                    break
            else:
                raise RuntimeError(f"no interface holds the node IP {self.node_ip}")
        return self._dev

    async def sync(self, wanted: set[str]) -> None:
        dev = await self._device()
        label = (dev + LABEL_SUFFIX)[:15]
        have = {line.split()[3].split("/")[0]
                for line in (await _ip("-o", "-4", "addr", "show", "dev", dev, "label", label)).splitlines()
                if len(line.split()) > 3}
        for ip in sorted(wanted - have):
            await _ip("addr", "add", f"{ip}/32", "dev", dev, "label", label)
            log.info("announcing load balancer address", extra={"address": ip, "device": dev})
        for ip in sorted(have - wanted):
            await _ip("addr", "del", f"{ip}/32", "dev", dev, "label", label)
            log.info("stopped announcing load balancer address", extra={"address": ip, "device": dev})

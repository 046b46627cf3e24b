"""The address pool of LoadBalancer Services (pure): parse `--lb-pool`, pick a free address.

Why pure: "never hand one address to two Services" and "keep a Service's
address across restarts" are decisions over sets, testable without a cluster.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


class PoolError(ValueError):
    """`--lb-pool` is not a usable IPv4 CIDR."""


def parse_pool(text: str) -> list[str]:
    """The usable addresses of `text` (network and broadcast excluded for prefixes shorter than /31)."""
    try:
        net = ipaddress.IPv4Network(text, strict=False)
    except ValueError as exc:
        raise PoolError(f"--lb-pool: expected an IPv4 CIDR like 10.88.0.240/28: {exc}") from None
    hosts = [str(ip) for ip in (net.hosts() if net.prefixlen < 31 else net)]
    if not hosts:
        raise PoolError(f"--lb-pool: {text} holds no addresses")
    return hosts


def default_pool(host_ip: str, prefix_len: int) -> str:
    """The last /28 of the host bridge subnet: node addresses are handed out from the bottom."""
    net = ipaddress.IPv4Network(f"{host_ip}/{prefix_len}", strict=False)
    return str(ipaddress.IPv4Network(f"{net.broadcast_address - 15}/28", strict=False))


def pick(pool: list[str], used: Iterable[str], wanted: str | None = None) -> str | None:
    """`wanted` if it is in the pool and free, else the lowest free address; None when exhausted."""
    taken = set(used)
    if wanted:
        return wanted if wanted in pool and wanted not in taken else None
    return next((ip for ip in pool if ip not in taken), None)

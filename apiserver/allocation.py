"""ClusterIP and NodePort allocation for Services, stored in the kvstore.

Why claim keys: every allocated IP or port is a key of its own
(`/registry/ranges/clusterips/<ip>`, `/registry/ranges/nodeports/<proto>/<port>`)
written in the *same* transaction as the Service, with "must not exist yet"
compares. So two Services can never own one IP or port -- even with several
apiservers -- an allocation survives any apiserver restart (it is in the store,
not in memory), and deleting the Service releases its keys atomically. A
conflicting automatic pick is simply retried with another random candidate;
a conflicting explicit request is the user's error (Invalid, like Kubernetes).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

from kubelite.api import Service

CLUSTER_IP_RANGE = "10.96.0.0/12"
NODE_PORT_RANGE = (30000, 32767)
IP_PREFIX = "/registry/ranges/clusterips/"
PORT_PREFIX = "/registry/ranges/nodeports/"
STATIC_BAND = 256  # low addresses kept for explicit choices (e.g. the DNS service's fixed IP)


class AllocationError(ValueError):
    """An explicit clusterIP/nodePort is outside the range (field, value, message)."""

    def __init__(self, field_path: str, value: object, message: str) -> None:
        super().__init__(message)
        self.field_path, self.value, self.message = field_path, value, message


@dataclass
class Plan:
    """What a Service write must claim and release, and which claims the user asked for."""

    claims: dict[str, bytes] = field(default_factory=dict)
    releases: list[str] = field(default_factory=list)
    explicit: dict[str, tuple[str, object]] = field(default_factory=dict)  # claim key -> (field, value)


def ip_key(ip: str) -> str:
    return IP_PREFIX + ip


def port_key(protocol: str, port: int) -> str:
    return f"{PORT_PREFIX}{protocol.lower()}/{port}"


def owned_keys(svc: Service) -> set[str]:
    """The claim keys a stored Service holds."""
    keys: set[str] = set()
    ip = svc.spec.cluster_ip
    if ip and ip != "None" and svc.spec.type != "ExternalName":
        keys.add(ip_key(ip))
    for p in svc.spec.ports:
        if p.node_port:
            keys.add(port_key(p.protocol or "TCP", p.node_port))
    return keys


class ServiceAllocator:
    """Fills in spec.clusterIP and nodePorts and says which claim keys that takes."""

    def __init__(self, cidr: str = CLUSTER_IP_RANGE, node_ports: tuple[int, int] = NODE_PORT_RANGE,
                 rng: random.Random | None = None) -> None:
        self.network = ipaddress.IPv4Network(cidr, strict=True)
        self.node_ports = node_ports
        self.rng = rng or random.Random()

    def plan(self, svc: Service, old: Service | None) -> Plan:
        """Assign what `svc` lacks (keeping `old`'s values), return claims/releases; mutates `svc`."""
        spec = svc.spec
        owner = f"{svc.metadata.namespace}/{svc.metadata.name}".encode()
        held = owned_keys(old) if old is not None else set()
        plan = Plan()
        if spec.type == "ExternalName":
            spec.cluster_ip = None
            spec.cluster_ips = []
        else:
            if not spec.cluster_ip and old is not None and old.spec.cluster_ip:
                spec.cluster_ip = old.spec.cluster_ip
            if not spec.cluster_ip:
                spec.cluster_ip = self._random_ip()
            elif spec.cluster_ip != "None":
                self._check_ip(spec.cluster_ip)
                if ip_key(spec.cluster_ip) not in held:
                    plan.explicit[ip_key(spec.cluster_ip)] = ("spec.clusterIP", spec.cluster_ip)
            spec.cluster_ips = [spec.cluster_ip]
        wants_ports = spec.type in ("NodePort", "LoadBalancer")
        old_ports = {(p.name or "", p.port, p.protocol or "TCP"): p.node_port
                     for p in (old.spec.ports if old is not None else []) if p.node_port}
        taken: set[int] = set()
        for i, p in enumerate(spec.ports):
            if not wants_ports:
                p.node_port = None
                continue
            if not p.node_port:
                p.node_port = old_ports.get((p.name or "", p.port, p.protocol or "TCP"))
                if p.node_port is None:
                    p.node_port = self._random_port(taken)
            elif port_key(p.protocol or "TCP", p.node_port) not in held:
                plan.explicit[port_key(p.protocol or "TCP", p.node_port)] = (f"spec.ports[{i}].nodePort", p.node_port)
            taken.add(p.node_port)
        wanted = owned_keys(svc)
        plan.claims = {k: owner for k in sorted(wanted - held)}
        plan.releases = sorted(held - wanted)
        return plan

    def repick(self, svc: Service, taken_keys: set[str]) -> None:
        """Replace automatic picks that turned out to be taken (explicit ones are never changed)."""
        spec = svc.spec
        if spec.cluster_ip and ip_key(spec.cluster_ip) in taken_keys:
            spec.cluster_ip = self._random_ip()
            spec.cluster_ips = [spec.cluster_ip]
        used = {p.node_port for p in spec.ports if p.node_port}
        for p in spec.ports:
            if p.node_port and port_key(p.protocol or "TCP", p.node_port) in taken_keys:
                p.node_port = self._random_port(used)
                used.add(p.node_port)

    def _random_ip(self) -> str:
        size = self.network.num_addresses
        low = min(STATIC_BAND, size // 4)
        return str(self.network.network_address + self.rng.randrange(max(low, 1), size - 1))

    def _random_port(self, avoid: set[int]) -> int:
        lo, hi = self.node_ports
        while True:
            port = self.rng.randint(lo, hi)
            if port not in avoid:
                return port

    def _check_ip(self, ip: str) -> None:
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            raise AllocationError("spec.clusterIP", ip, "must be a valid IP address or None") from None
        if addr not in self.network or addr in (self.network.network_address, self.network.broadcast_address):
            raise AllocationError("spec.clusterIP", ip,
                                  f"provided IP is not in the valid range. The range of valid IPs is {self.network}")

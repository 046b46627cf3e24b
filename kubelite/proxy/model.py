"""What the proxy needs from Services and Endpoints, flattened to one record per service port.

Why flatten: iptables rules are per (service, port, protocol) and per endpoint
`ip:port`; turning the API objects into small frozen records once keeps the
rules builder a plain loop and makes "did anything change" a value comparison.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from kubelite.api import Endpoints, Service

DEFAULT_AFFINITY_SECONDS = 10800  # Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, as the proxy programs it."""

    namespace: str
    name: str
    port_name: str  # "" for an unnamed (single) port
    protocol: str  # TCP, UDP or SCTP
    port: int
    cluster_ip: str | None  # None: headless or not allocated -> no ClusterIP rules
    node_port: int | None = None
    affinity_seconds: int | None = None  # set when sessionAffinity is ClientIP
    external_ips: tuple[str, ...] = ()  # spec.externalIPs and LoadBalancer ingress IPs: DNATed like the cluster IP
    lb_ips: tuple[str, ...] = ()  # the LoadBalancer ingress IPs alone: a node announces these, never externalIPs

    @property
    def key(self) -> str:
        """kube-proxy's ServicePortName string: "ns/name:port" ("ns/name" for an unnamed port)."""
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base

    @property
    def service_key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class Endpoint:
    """A ready backend of a service port."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


def _ipv4(text: str | None) -> str | None:
    """`text` if it is an IPv4 address, else None.

    Why: the rules are IPv4 iptables; one malformed or IPv6 address in one
    object must not make iptables-restore reject the whole sync for everyone.
    """
    if not text:
        return None
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return None


def _cluster_ip(svc: Service) -> str | None:
    ip = svc.spec.cluster_ip
    if not ip or ip == "None":
        return None
    return _ipv4(ip)


def service_ports(svc: Service) -> list[ServicePort]:
    """The proxyable ports of `svc` (ExternalName services have none)."""
    spec = svc.spec
    if spec.type == "ExternalName":
        return []
    cluster_ip = _cluster_ip(svc)
    affinity: int | None = None
    if spec.session_affinity == "ClientIP":
        cfg = spec.session_affinity_config
        seconds = cfg.client_ip.timeout_seconds if cfg and cfg.client_ip else None
        affinity = seconds or DEFAULT_AFFINITY_SECONDS
    node_ports_wanted = spec.type in ("NodePort", "LoadBalancer")
    lb_ips = [i.ip for i in svc.status.load_balancer.ingress] if spec.type == "LoadBalancer" else []
    lb = tuple(sorted({ip for ip in (_ipv4(x) for x in lb_ips) if ip}))
    external = tuple(sorted({ip for ip in (_ipv4(x) for x in spec.external_ips) if ip} | set(lb)))
    out: list[ServicePort] = []
    for p in spec.ports:
        protocol = (p.protocol or "TCP").upper()
        if protocol not in PROTOCOLS or not 0 < p.port < 65536:
            continue
        node_port = p.node_port if node_ports_wanted and p.node_port and 0 < p.node_port < 65536 else None
        out.append(ServicePort(
            namespace=svc.metadata.namespace or "default",
            name=svc.metadata.name or "",
            port_name=p.name or "",
            protocol=protocol,
            port=p.port,
            cluster_ip=cluster_ip,
            node_port=node_port,
            affinity_seconds=affinity,
            external_ips=external,
            lb_ips=lb,
        ))
    return out


def ready_endpoints(sp: ServicePort, endpoints: Endpoints | None) -> list[Endpoint]:
    """The ready `ip:port` backends of `sp`, sorted and unique.

    Endpoints name their ports after the Service's port names and carry the
    already-resolved numbers (a named targetPort may resolve to a different
    number per pod, which is why each subset has its own ports). Not-ready
    addresses are never proxied to.
    """
    if endpoints is None:
        return []
    found: set[Endpoint] = set()
    for subset in endpoints.subsets:
        number: int | None = None
        for ep_port in subset.ports:
            if (ep_port.name or "") == sp.port_name and (ep_port.protocol or "TCP").upper() == sp.protocol:
                number = ep_port.port
                break
        if number is None or not 0 < number < 65536:
            continue
        for addr in subset.addresses:
            ip = _ipv4(addr.ip)
            if ip is not None:
                found.add(Endpoint(ip, number))
    return sorted(found, key=_endpoint_order)


def _endpoint_order(ep: Endpoint) -> tuple[tuple[int, ...], str, int]:
    """Numeric IP order, so 10.0.0.9 sorts before 10.0.0.10 (stable, human-friendly rule order)."""
    try:
        parts = tuple(int(x) for x in ep.ip.split("."))
    except ValueError:
        parts = ()
    return parts, ep.ip, ep.port

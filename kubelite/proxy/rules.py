"""The rules builder: (service ports, ready endpoints, config) -> every KUBE-* chain the proxy owns.

Why pure: this is where the Kubernetes semantics live (which packet is
masqueraded, how load is spread, what is rejected), so it must be testable
exactly, line by line, without root; and it must be fast at 1,000 services ×
10 endpoints, which plain string building is (no subprocess per rule).

Layout (kube-proxy's iptables mode):

nat:    PREROUTING, OUTPUT -> KUBE-SERVICES; POSTROUTING -> KUBE-POSTROUTING
  KUBE-SERVICES      -d CLUSTER_IP -p P --dport PORT -> KUBE-SVC-X   (per service port with ready endpoints)
                     last: ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -> KUBE-NODEPORTS
                     (not loopback: a DNATed packet from 127.0.0.1 is a martian off-box)
  KUBE-NODEPORTS     --dport NODE_PORT -> KUBE-MARK-MASQ, then -> KUBE-SVC-X
  KUBE-SVC-X         ! -s CLUSTER_CIDR -d CLUSTER_IP -> KUBE-MARK-MASQ (off-cluster clients)
                     [ClientIP affinity: -m recent --rcheck per endpoint]
                     -m statistic --probability 1/(n-i) -> KUBE-SEP-Y_i (the last one unconditional)
  KUBE-SEP-Y         -s ENDPOINT_IP -> KUBE-MARK-MASQ (hairpin), DNAT --to-destination IP:PORT
  KUBE-MARK-MASQ     MARK --or-mark 0x4000
  KUBE-POSTROUTING   unmarked RETURN; clear the mark; MASQUERADE
filter: INPUT -> KUBE-EXTERNAL-SERVICES; FORWARD, OUTPUT -> KUBE-SERVICES (new connections); FORWARD -> KUBE-FORWARD
  KUBE-SERVICES          REJECT cluster IPs of service ports without ready endpoints
  KUBE-EXTERNAL-SERVICES REJECT their node ports on local addresses
  KUBE-FORWARD           ACCEPT marked and established traffic (hosts whose FORWARD policy is DROP)
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubelite.proxy.model import Endpoint, ServicePort

NAT = "nat"
FILTER = "filter"
MASQ_MARK = "0x4000"

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_FORWARD = "KUBE-FORWARD"
SVC_PREFIX = "KUBE-SVC-"
SEP_PREFIX = "KUBE-SEP-"
NP_PREFIX = "KUBE-NWPLCY"  # NetworkPolicy chains (kubelite.proxy.netpol)
NP_FORWARD = "KUBE-NWPLCY-FWD"

TOP_CHAINS: tuple[tuple[str, str], ...] = (
    (NAT, KUBE_SERVICES), (NAT, KUBE_NODEPORTS), (NAT, KUBE_POSTROUTING), (NAT, KUBE_MARK_MASQ),
    (FILTER, KUBE_SERVICES), (FILTER, KUBE_EXTERNAL_SERVICES), (FILTER, KUBE_FORWARD), (FILTER, NP_FORWARD),
)
"""Chains every sync writes, whatever the services are."""

_TOP_NAMES = frozenset(chain for _, chain in TOP_CHAINS)


@dataclass(frozen=True)
class Jump:
    """A rule in a built-in chain that sends traffic into one of our chains."""

    table: str
    chain: str
    spec: tuple[str, ...]  # iptables argv after the chain name

    @property
    def target(self) -> str:
        return self.spec[-1]


def _comment(text: str) -> tuple[str, ...]:
    return ("-m", "comment", "--comment", text)


JUMPS: tuple[Jump, ...] = (
    Jump(NAT, "PREROUTING", (*_comment("kubernetes service portals"), "-j", KUBE_SERVICES)),
    Jump(NAT, "OUTPUT", (*_comment("kubernetes service portals"), "-j", KUBE_SERVICES)),
    Jump(NAT, "POSTROUTING", (*_comment("kubernetes postrouting rules"), "-j", KUBE_POSTROUTING)),
    Jump(FILTER, "INPUT", ("-m", "conntrack", "--ctstate", "NEW",
                           *_comment("kubernetes externally-visible service portals"), "-j", KUBE_EXTERNAL_SERVICES)),
    Jump(FILTER, "FORWARD", ("-m", "conntrack", "--ctstate", "NEW",
                             *_comment("kubernetes service portals"), "-j", KUBE_SERVICES)),
    Jump(FILTER, "FORWARD", (*_comment("kubernetes forwarding rules"), "-j", KUBE_FORWARD)),
    Jump(FILTER, "OUTPUT", ("-m", "conntrack", "--ctstate", "NEW",
                            *_comment("kubernetes service portals"), "-j", KUBE_SERVICES)),
    # Last, so it is prepended last and policies are checked before KUBE-FORWARD accepts anything.
    Jump(FILTER, "FORWARD", (*_comment("kubernetes network policy"), "-j", NP_FORWARD)),
)
"""Installed (prepended) once and verified on periodic syncs; never part of a restore payload."""


def is_owned_chain(chain: str) -> bool:
    """True for every chain name this proxy creates (and so may flush or delete)."""
    return chain in _TOP_NAMES or chain.startswith((SVC_PREFIX, SEP_PREFIX, NP_PREFIX))


@functools.lru_cache(maxsize=1 << 16)
def hash16(text: str) -> str:
    """First 16 base32 characters of sha256(text); 10 bytes encode to exactly those 16 characters.

    Cached: the same names are computed on every sync, and b32encode is slow.
    """
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:10]).decode()


def svc_chain(sp: ServicePort) -> str:
    """Stable per-service-port chain name (base32 sha256 prefix of "ns/name:port" + protocol, as kube-proxy)."""
    return SVC_PREFIX + hash16(sp.key + sp.protocol.lower())


def sep_chain(sp: ServicePort, ep: Endpoint) -> str:
    """Stable per-endpoint chain name: the service port's key + protocol + "ip:port"."""
    return SEP_PREFIX + hash16(sp.key + sp.protocol.lower() + str(ep))


def probability(i: int, n: int) -> str:
    """The statistic match for endpoint i of n: picks it with 1/(n-i) of what is left, i.e. 1/n overall."""
    return f"{1.0 / (n - i):0.10f}"


@dataclass(frozen=True)
class RulesConfig:
    cluster_cidr: str | None = "10.244.0.0/16"  # None/"" -> do not masquerade off-cluster ClusterIP clients


@dataclass
class RuleSet:
    """Every owned chain and its rules ("-A CHAIN ..." lines), in write order."""

    chains: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    """nat KUBE-SVC chain -> [that chain, its KUBE-SEP chains]: written in one transaction together."""
    chain_texts: dict[tuple[str, str], str] = field(default_factory=dict)
    """Cached `texts()` entries (the builder reuses unchanged services' strings across syncs)."""

    def rule_count(self) -> int:
        return sum(len(rules) for rules in self.chains.values())

    def texts(self) -> dict[tuple[str, str], str]:
        """Chain -> its rules as one string: what the planner compares to find changed chains."""
        if len(self.chain_texts) != len(self.chains):
            self.chain_texts = {key: self.chain_texts.get(key) or "\n".join(rules)
                                for key, rules in self.chains.items()}
        return self.chain_texts

    def render(self) -> str:
        """The whole rule set as one iptables-restore payload (for tests and inspection)."""
        out: list[str] = []
        for table in (FILTER, NAT):
            keys = [key for key in self.chains if key[0] == table]
            out.append(f"*{table}")
            out.extend(f":{chain} - [0:0]" for _, chain in keys)
            for key in keys:
                out.extend(self.chains[key])
            out.append("COMMIT")
        return "\n".join(out) + "\n"


@dataclass
class _PortRules:
    """Everything one service port contributes; cached while its (port, endpoints) stay the same."""

    nat_services: list[str] = field(default_factory=list)
    nat_nodeports: list[str] = field(default_factory=list)
    filter_services: list[str] = field(default_factory=list)
    filter_external: list[str] = field(default_factory=list)
    chains: list[tuple[str, list[str], str]] = field(default_factory=list)  # (nat chain, rules, text)
    group: list[str] = field(default_factory=list)


def _port_order(item: tuple[ServicePort, list[Endpoint]]) -> tuple[str, str, str, str, int]:
    sp = item[0]
    return sp.namespace, sp.name, sp.port_name, sp.protocol, sp.port


def _proto(sp: ServicePort) -> str:
    p = sp.protocol.lower()
    return f"-p {p} -m {p}"


def build_rules(ports: Iterable[tuple[ServicePort, list[Endpoint]]], config: RulesConfig) -> RuleSet:
    """Build the complete owned rule set; output is a pure function of the (sorted) input."""
    return RulesBuilder(config).build(ports)


class RulesBuilder:
    """`build_rules` with a memory: a service port whose endpoints did not change reuses last build's strings.

    Why: at 1,000 services a sync triggered by one endpoint change should cost
    work for that service, not for all of them; and reusing the very same text
    objects makes the planner's "did this chain change" comparison an identity check.
    """

    def __init__(self, config: RulesConfig) -> None:
        self.config = config
        self._cache: dict[tuple[ServicePort, tuple[Endpoint, ...]], _PortRules] = {}

    def build(self, ports: Iterable[tuple[ServicePort, list[Endpoint]]]) -> RuleSet:
        rs = RuleSet()
        nat_services: list[str] = []
        nat_nodeports: list[str] = []
        filter_services: list[str] = []
        filter_external: list[str] = []
        cache: dict[tuple[ServicePort, tuple[Endpoint, ...]], _PortRules] = {}
        for sp, endpoints in sorted(ports, key=_port_order):
            if sp.cluster_ip is None:
                continue  # headless: DNS hands out pod IPs, nothing to proxy
            key = (sp, tuple(endpoints))
            pr = self._cache.get(key) or cache.get(key) or _port_rules(sp, endpoints, self.config.cluster_cidr)
            cache[key] = pr
            nat_services += pr.nat_services
            nat_nodeports += pr.nat_nodeports
            filter_services += pr.filter_services
            filter_external += pr.filter_external
            for chain, rules, text in pr.chains:
                rs.chains[(NAT, chain)] = rules
                rs.chain_texts[(NAT, chain)] = text
            if pr.group:
                rs.groups[pr.group[0]] = pr.group
        self._cache = cache
        rs.chains[(NAT, KUBE_SERVICES)] = nat_services + [
            f'-A {KUBE_SERVICES} ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment '
            f'"kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j {KUBE_NODEPORTS}']
        rs.chains[(NAT, KUBE_NODEPORTS)] = nat_nodeports
        rs.chains[(NAT, KUBE_POSTROUTING)] = [
            f"-A {KUBE_POSTROUTING} -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
            f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {MASQ_MARK}",
            f'-A {KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
        ]
        rs.chains[(NAT, KUBE_MARK_MASQ)] = [f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {MASQ_MARK}"]
        rs.chains[(FILTER, KUBE_SERVICES)] = filter_services
        rs.chains[(FILTER, KUBE_EXTERNAL_SERVICES)] = filter_external
        rs.chains[(FILTER, KUBE_FORWARD)] = [
            f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" '
            f"-m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
            f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" '
            f"-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        ]
        rs.texts()
        return rs


def _port_rules(sp: ServicePort, endpoints: list[Endpoint], cidr: str | None) -> _PortRules:
    """The rules of one service port that has a cluster IP."""
    pr = _PortRules()
    proto = _proto(sp)
    dest = f"-d {sp.cluster_ip}/32 {proto} --dport {sp.port}"
    if not endpoints:
        pr.filter_services.append(
            f'-A {KUBE_SERVICES} {dest} -m comment --comment "{sp.key} has no endpoints" '
            f"-j REJECT --reject-with icmp-port-unreachable")
        if sp.node_port:
            pr.filter_external.append(
                f"-A {KUBE_EXTERNAL_SERVICES} -m addrtype --dst-type LOCAL {proto} --dport {sp.node_port} "
                f'-m comment --comment "{sp.key} has no endpoints" -j REJECT --reject-with icmp-port-unreachable')
        for ip in sp.external_ips:
            pr.filter_services.append(
                f'-A {KUBE_SERVICES} -d {ip}/32 {proto} --dport {sp.port} -m comment --comment "{sp.key} has no '
                f'endpoints" -j REJECT --reject-with icmp-port-unreachable')
        return pr
    svc = svc_chain(sp)
    pr.nat_services.append(f'-A {KUBE_SERVICES} {dest} -m comment --comment "{sp.key} cluster IP" -j {svc}')
    for ip in sp.external_ips:  # externalIPs and LoadBalancer addresses: outside traffic, so masqueraded
        ext = f'-A {KUBE_SERVICES} -d {ip}/32 {proto} --dport {sp.port} -m comment --comment "{sp.key} external IP"'
        pr.nat_services += [f"{ext} -j {KUBE_MARK_MASQ}", f"{ext} -j {svc}"]
    if sp.node_port:
        np = f'-A {KUBE_NODEPORTS} {proto} --dport {sp.node_port} -m comment --comment "{sp.key}"'
        pr.nat_nodeports.append(f"{np} -j {KUBE_MARK_MASQ}")
        pr.nat_nodeports.append(f"{np} -j {svc}")
    _service_chains(pr, sp, svc, endpoints, dest, cidr)
    return pr


def _service_chains(pr: _PortRules, sp: ServicePort, svc: str, endpoints: list[Endpoint], dest: str,
                    cidr: str | None) -> None:
    """KUBE-SVC-X and its KUBE-SEP-Y chains for a service port with ready endpoints."""
    key = sp.key
    proto = _proto(sp)
    svc_rules: list[str] = []
    if cidr:
        svc_rules.append(
            f'-A {svc} ! -s {cidr} {dest} -m comment --comment "{key} cluster IP" -j {KUBE_MARK_MASQ}')
    seps = [sep_chain(sp, ep) for ep in endpoints]
    affinity = sp.affinity_seconds
    if affinity:
        for ep, sep in zip(endpoints, seps, strict=True):
            svc_rules.append(
                f'-A {svc} -m comment --comment "{key} -> {ep}" -m recent --name {sep} '
                f"--mask 255.255.255.255 --rsource --rcheck --seconds {affinity} --reap -j {sep}")
    n = len(endpoints)
    sep_chains: list[tuple[str, list[str], str]] = []
    for i, (ep, sep) in enumerate(zip(endpoints, seps, strict=True)):
        pick = f"-m statistic --mode random --probability {probability(i, n)} " if i < n - 1 else ""
        svc_rules.append(f'-A {svc} -m comment --comment "{key} -> {ep}" {pick}-j {sep}')
        remember = f"-m recent --name {sep} --mask 255.255.255.255 --rsource --set " if affinity else ""
        rules = [
            f'-A {sep} -s {ep.ip}/32 -m comment --comment "{key}" -j {KUBE_MARK_MASQ}',
            f'-A {sep} {proto} -m comment --comment "{key}" {remember}-j DNAT --to-destination {ep}',
        ]
        sep_chains.append((sep, rules, "\n".join(rules)))
    pr.chains = [(svc, svc_rules, "\n".join(svc_rules)), *sep_chains]
    pr.group = [svc, *seps]

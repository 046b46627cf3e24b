"""The NetworkPolicy compiler: (policies, pods, namespaces, this node) -> filter chains, like kube-router's
and Calico's iptables modes.

Why pure: the policy semantics (which pods a policy selects, which peers and
ports a rule allows, default deny per direction) are decided here, so they are
unit-tested exactly without root; the Proxier feeds the result to the same
RuleSyncer as the Service rules (one restore, one planner, one cleanup).

Layout (filter table of the node's network namespace; FORWARD sees every pod
packet: routed ones, and bridged ones between pods of one node because the
kubelet sets `net.bridge.bridge-nf-call-iptables=1`):

  FORWARD -> KUBE-NWPLCY-FWD
  KUBE-NWPLCY-FWD   RELATED,ESTABLISHED -> RETURN (return traffic is never policed)
                    -s POD_IP -> KUBE-NWPLCYE<hash>   per local pod isolated for egress
                    -d POD_IP -> KUBE-NWPLCYI<hash>   per local pod isolated for ingress
  KUBE-NWPLCY[IE]   clear the allow mark; one rule per (peer, port) an applicable policy allows,
                    setting the mark; [egress: DNS to the cluster DNS always allowed];
                    unmarked -> DROP (connections time out, as with Kubernetes' CNIs)
  KUBE-NWPLCYB<h>   an ipBlock with `except`: -s/-d EXCEPT -> RETURN, else set the mark

Both directions of a packet between two pods of one node are checked in the
one pass (egress of the source, then ingress of the destination). Traffic
from the node itself (kubelet probes) goes through OUTPUT and is never policed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kubelite.api.networking import NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, policy_types
from kubelite.api.pods import Pod
from kubelite.api.podutil import is_pod_terminal
from kubelite.api.selectors import LabelMatcher, label_matcher
from kubelite.proxy.rules import NP_FORWARD, NP_PREFIX, hash16

ALLOW_MARK = "0x10000"
DNS_PORT = 53
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class PodRecord:
    """What the compiler needs of one pod (flattened once per sync from the informer's Pod)."""

    namespace: str
    name: str
    ip: str
    node: str
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[str, str, int], ...] = ()  # (name, protocol, number) of named container ports

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str, protocol: str) -> int | None:
        return next((n for pname, proto, n in self.ports if pname == name and proto == protocol), None)


def pod_record(pod: Pod) -> PodRecord | None:
    """The record of a pod that has an IPv4 pod IP of its own (not hostNetwork, not finished); else None."""
    ip = pod.status.pod_ip
    if not ip or pod.spec.host_network or is_pod_terminal(pod):
        return None
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        return None
    ports = tuple((p.name, (p.protocol or "TCP").upper(), p.container_port)
                  for c in pod.spec.containers for p in c.ports if p.name)
    return PodRecord(pod.metadata.namespace or "default", pod.metadata.name or "", ip, pod.spec.node_name or "",
                     tuple(sorted((pod.metadata.labels or {}).items())), ports)


@dataclass(frozen=True)
class Source:
    """One peer as addresses: a CIDR minus `excepts`, and the pod it is (for named egress ports)."""

    cidr: str | None  # None: anywhere
    excepts: tuple[str, ...] = ()
    pod: PodRecord | None = None


@dataclass
class NetpolRules:
    """The owned filter chains (name -> rules) and how many pods are isolated, for logs and metrics."""

    chains: dict[str, list[str]] = field(default_factory=dict)
    isolated_ingress: int = 0
    isolated_egress: int = 0


@dataclass(frozen=True)
class NetpolInput:
    policies: Sequence[NetworkPolicy]
    pods: Sequence[PodRecord]  # every pod of the cluster with a pod IP
    namespace_labels: Mapping[str, Mapping[str, str]]
    node_name: str
    dns_ips: Sequence[str] = ()  # cluster DNS service IP and endpoint IPs: egress to port 53 there stays open


def pod_chain(pod: PodRecord, direction: str) -> str:
    """`KUBE-NWPLCYI<14>` / `KUBE-NWPLCYE<14>`: stable per pod and direction, within iptables' 28 characters."""
    return f"{NP_PREFIX}{direction}{hash16(pod.key + '/' + direction)[:14]}"


def except_chain(cidr: str, excepts: Sequence[str], flag: str) -> str:
    return f"{NP_PREFIX}B{hash16(flag + cidr + ','.join(excepts))[:14]}"


class _Compiler:
    def __init__(self, inp: NetpolInput) -> None:
        self.inp = inp
        self.chains: dict[str, list[str]] = {}
        self._ns_labels = {ns: {**labels, NAMESPACE_NAME_LABEL: ns} for ns, labels in inp.namespace_labels.items()}
        self._pods_by_ns: dict[str, list[PodRecord]] = {}
        for pod in sorted(inp.pods, key=lambda p: (p.namespace, p.name)):
            self._pods_by_ns.setdefault(pod.namespace, []).append(pod)

    def _namespaces(self, matcher: LabelMatcher) -> list[str]:
        names = set(self._ns_labels) | set(self._pods_by_ns)
        return sorted(ns for ns in names if matcher.matches(self._ns_labels.get(ns, {NAMESPACE_NAME_LABEL: ns})))

    def sources(self, namespace: str, peer: NetworkPolicyPeer) -> list[Source]:
        if peer.ip_block is not None:
            net = str(ipaddress.ip_network(peer.ip_block.cidr, strict=False))
            return [Source(net, tuple(str(ipaddress.ip_network(e, strict=False)) for e in peer.ip_block.except_))]
        namespaces = ([namespace] if peer.namespace_selector is None
                      else self._namespaces(label_matcher(peer.namespace_selector)))
        pods_matcher = label_matcher(peer.pod_selector) if peer.pod_selector is not None else None
        out: list[Source] = []
        for ns in namespaces:
            for pod in self._pods_by_ns.get(ns, []):
                if pods_matcher is None or pods_matcher.matches(dict(pod.labels)):
                    out.append(Source(f"{pod.ip}/32", pod=pod))
        return out

    def port_matches(self, port: NetworkPolicyPort, target: PodRecord | None) -> list[str]:
        """The `-p ... --dport ...` text of one policy port for traffic to `target` (empty: nothing matches)."""
        proto = (port.protocol or "TCP").upper()
        p = f"-p {proto.lower()}"
        value = port.port
        if value is None:
            return [p]
        if isinstance(value, int):
            dport = f"{value}:{port.end_port}" if port.end_port is not None and port.end_port > value else str(value)
            return [f"{p} -m {proto.lower()} --dport {dport}"]
        number = target.named_port(value, proto) if target is not None else None
        return [] if number is None else [f"{p} -m {proto.lower()} --dport {number}"]

    def _allow(self, chain: str, flag: str, src: Source, ports: str, comment: str) -> None:
        """One rule of `chain`: traffic from/to `src` on `ports` ("" = any) is allowed."""
        mark = f"-j MARK --or-mark {ALLOW_MARK}"
        target = mark
        if src.excepts and src.cidr is not None:
            target = f"-j {except_chain(src.cidr, src.excepts, flag)}"
            sub = target[3:]
            if sub not in self.chains:
                self.chains[sub] = [*(f"-A {sub} {flag} {e} -j RETURN" for e in src.excepts), f"-A {sub} {mark}"]
        words = [f"-A {chain}", f"{flag} {src.cidr}" if src.cidr else "", ports,
                 f'-m comment --comment "{comment}"', target]
        self.chains[chain].append(" ".join(w for w in words if w))

    def rule(self, chain: str, target: PodRecord, np: NetworkPolicy, peers: list[NetworkPolicyPeer],
             ports: list[NetworkPolicyPort], ingress: bool) -> None:
        ns = np.metadata.namespace or "default"
        comment = f"{ns}/{np.metadata.name}"
        srcs = [Source(None)] if not peers else [s for peer in peers for s in self.sources(ns, peer)]
        flag = "-s" if ingress else "-d"
        for src in srcs:
            if not ports:
                self._allow(chain, flag, src, "", comment)
                continue
            for port in ports:
                if ingress or src.pod is not None or not isinstance(port.port, str):
                    dest = target if ingress else src.pod
                    for text in self.port_matches(port, dest):
                        self._allow(chain, flag, src, text, comment)
                    continue
                # A named egress port towards addresses: every pod there that has that port name.
                for pod in self._all_pods():
                    if _in_source(pod.ip, src):
                        for text in self.port_matches(port, pod):
                            self._allow(chain, flag, Source(f"{pod.ip}/32"), text, comment)

    def _all_pods(self) -> Iterable[PodRecord]:
        for pods in self._pods_by_ns.values():
            yield from pods

    def pod_chain_rules(self, target: PodRecord, policies: list[NetworkPolicy], ingress: bool) -> str:
        chain = pod_chain(target, "I" if ingress else "E")
        direction = "ingress" if ingress else "egress"
        self.chains[chain] = [f"-A {chain} -j MARK --set-xmark 0x0/{ALLOW_MARK}"]
        if not ingress:
            for ip in sorted(set(self.inp.dns_ips)):
                for proto in ("udp", "tcp"):
                    self.chains[chain].append(
                        f'-A {chain} -d {ip}/32 -p {proto} -m {proto} --dport {DNS_PORT} '
                        f'-m comment --comment "cluster DNS" -j MARK --or-mark {ALLOW_MARK}')
        for np in policies:
            rules = ([(r.from_, r.ports) for r in np.spec.ingress] if ingress
                     else [(r.to, r.ports) for r in np.spec.egress])
            for peers, ports in rules:
                self.rule(chain, target, np, list(peers), list(ports), ingress)
        self.chains[chain].append(
            f'-A {chain} -m mark ! --mark {ALLOW_MARK}/{ALLOW_MARK} '
            f'-m comment --comment "{target.key} {direction} not allowed by policy" -j DROP')
        return chain

    def compile(self) -> NetpolRules:
        top = [f"-A {NP_FORWARD} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
        result = NetpolRules()
        selected: dict[tuple[str, bool], list[NetworkPolicy]] = {}
        local = [p for p in self._all_pods() if p.node == self.inp.node_name]
        policies = sorted(self.inp.policies, key=lambda n: (n.metadata.namespace or "", n.metadata.name or ""))
        matchers = [(np, label_matcher(np.spec.pod_selector), policy_types(np)) for np in policies]
        for pod in local:
            labels = dict(pod.labels)
            for np, matcher, (ing, egr) in matchers:
                if (np.metadata.namespace or "default") != pod.namespace or not matcher.matches(labels):
                    continue
                if ing:
                    selected.setdefault((pod.key, True), []).append(np)
                if egr:
                    selected.setdefault((pod.key, False), []).append(np)
        egress_jumps: list[str] = []
        ingress_jumps: list[str] = []
        for pod in local:
            if (pod.key, False) in selected:
                chain = self.pod_chain_rules(pod, selected[(pod.key, False)], ingress=False)
                egress_jumps.append(f'-A {NP_FORWARD} -s {pod.ip}/32 -m comment --comment "{pod.key} egress" '
                                    f"-j {chain}")
                result.isolated_egress += 1
            if (pod.key, True) in selected:
                chain = self.pod_chain_rules(pod, selected[(pod.key, True)], ingress=True)
                ingress_jumps.append(f'-A {NP_FORWARD} -d {pod.ip}/32 -m comment --comment "{pod.key} ingress" '
                                     f"-j {chain}")
                result.isolated_ingress += 1
        result.chains = {NP_FORWARD: top + egress_jumps + ingress_jumps, **self.chains}
        return result


def _in_source(ip: str, src: Source) -> bool:
    addr = ipaddress.ip_address(ip)
    if src.cidr is not None and addr not in ipaddress.ip_network(src.cidr):
        return False
    return not any(addr in ipaddress.ip_network(e) for e in src.excepts)


def compile_policies(inp: NetpolInput) -> NetpolRules:
    """Every owned filter chain enforcing `inp.policies` for the pods on `inp.node_name`."""
    return _Compiler(inp).compile()

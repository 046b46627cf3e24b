"""The NetworkPolicy compiler: which packets the compiled chains let through, table-driven.

Why through a tiny interpreter of the rules it emits (not string comparison):
what matters to a user is "can pod A reach pod B on port P", so each case
sends a NEW packet through KUBE-NWPLCY-FWD exactly as the kernel walks it
(jumps, RETURN, mark bits, DROP) and asserts the verdict.
"""

from __future__ import annotations

import ipaddress
import shlex
from typing import Any

import pytest

from kubelite.api import Pod
from kubelite.api.networking import NetworkPolicy
from kubelite.proxy.netpol import NetpolInput, PodRecord, compile_policies, pod_chain, pod_record
from kubelite.proxy.rules import NP_FORWARD, is_owned_chain

NODE = "node-1"
DNS = "10.96.0.10"


def pod(name: str, ip: str, ns: str = "app", node: str = NODE, ports: tuple[tuple[str, str, int], ...] = (),
        **labels: str) -> PodRecord:
    return PodRecord(ns, name, ip, node, tuple(sorted(labels.items())), ports)


def policy(spec: dict[str, Any], ns: str = "app", name: str = "p") -> NetworkPolicy:
    return NetworkPolicy.from_dict({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                    "metadata": {"name": name, "namespace": ns}, "spec": spec})


SERVER = pod("server", "10.244.1.2", role="server", ports=(("http", "TCP", 8080),))
CLIENT = pod("client", "10.244.1.3", role="client")
OTHER = pod("other", "10.244.1.4")
REMOTE = pod("remote", "10.244.2.5", ns="monitoring", node="node-2", role="client")
PODS = [SERVER, CLIENT, OTHER, REMOTE]
NAMESPACES = {"app": {"team": "a"}, "monitoring": {"team": "ops"}}


def run_chain(chains: dict[str, list[str]], chain: str, pkt: dict[str, Any], state: dict[str, int]) -> str | None:
    """Walk `chain`; returns "DROP", or None when the chain ends / RETURNs."""
    for line in chains[chain]:
        w = shlex.split(line)[2:]
        ok = True
        i = 0
        target = ""
        while i < len(w):
            word = w[i]
            if word in ("-s", "-d"):
                addr = pkt["src" if word == "-s" else "dst"]
                ok &= ipaddress.ip_address(addr) in ipaddress.ip_network(w[i + 1])
                i += 2
            elif word == "-p":
                ok &= pkt["proto"] == w[i + 1]
                i += 2
            elif word == "--dport":
                lo, _, hi = w[i + 1].partition(":")
                ok &= int(lo) <= pkt["dport"] <= int(hi or lo)
                i += 2
            elif word == "--ctstate":
                ok &= pkt.get("established", False)
                i += 2
            elif word == "!" and w[i + 1] == "--mark":
                value, mask = (int(x, 16) for x in w[i + 2].split("/"))
                ok &= state["mark"] & mask != value
                i += 3
            elif word == "--comment":
                i += 2
            elif word == "-j":
                target = w[i + 1]
                i += 2
            else:
                i += 1
        if not ok:
            continue
        if target == "MARK":
            if "--or-mark" in w:
                state["mark"] |= int(w[w.index("--or-mark") + 1], 16)
            else:
                value, mask = (int(x, 16) for x in w[w.index("--set-xmark") + 1].split("/"))
                state["mark"] = (state["mark"] & ~mask) ^ value
        elif target == "RETURN":
            return None
        elif target == "DROP":
            return "DROP"
        elif target in chains:
            if run_chain(chains, target, pkt, state) == "DROP":
                return "DROP"
    return None


def allowed(policies: list[NetworkPolicy], src: PodRecord | str, dst: PodRecord | str, port: int = 8080,
            proto: str = "tcp", pods: list[PodRecord] = PODS, **pkt: Any) -> bool:
    inp = NetpolInput(policies, pods, NAMESPACES, NODE, dns_ips=[DNS])
    chains = compile_policies(inp).chains
    for chain in chains:
        assert is_owned_chain(chain) and len(chain) <= 28, chain
    packet = {"src": src if isinstance(src, str) else src.ip, "dst": dst if isinstance(dst, str) else dst.ip,
              "proto": proto, "dport": port, **pkt}
    return run_chain(chains, NP_FORWARD, packet, {"mark": 0}) is None


DENY_INGRESS = policy({"podSelector": {}, "policyTypes": ["Ingress"]}, name="deny")
DENY_EGRESS = policy({"podSelector": {}, "policyTypes": ["Egress"]}, name="deny-egress")
ALLOW_CLIENT = policy({"podSelector": {"matchLabels": {"role": "server"}},
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                                    "ports": [{"port": 8080}]}]})

CASES: list[tuple[str, list[NetworkPolicy], PodRecord | str, PodRecord | str, int, str, bool]] = [
    ("no policy: everything flows", [], CLIENT, SERVER, 8080, "tcp", True),
    ("default deny ingress", [DENY_INGRESS], CLIENT, SERVER, 8080, "tcp", False),
    ("default deny ingress from another node", [DENY_INGRESS], REMOTE, SERVER, 8080, "tcp", False),
    ("deny ingress leaves egress open", [DENY_INGRESS], SERVER, "8.8.8.8", 443, "tcp", True),
    ("allow role=client on 8080", [DENY_INGRESS, ALLOW_CLIENT], CLIENT, SERVER, 8080, "tcp", True),
    ("allow role=client: not another port", [DENY_INGRESS, ALLOW_CLIENT], CLIENT, SERVER, 8081, "tcp", False),
    ("allow role=client: not udp", [DENY_INGRESS, ALLOW_CLIENT], CLIENT, SERVER, 8080, "udp", False),
    ("allow role=client: not a pod without the label", [DENY_INGRESS, ALLOW_CLIENT], OTHER, SERVER, 8080, "tcp",
     False),
    ("podSelector peers are of the policy's namespace", [ALLOW_CLIENT], REMOTE, SERVER, 8080, "tcp", False),
    ("policy selecting only the server leaves others open", [ALLOW_CLIENT], OTHER, CLIENT, 80, "tcp", True),
    ("namespaceSelector", [policy({"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]}]})], REMOTE, SERVER, 9999, "tcp", True),
    ("namespaceSelector by metadata.name label", [policy({"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}]})],
     REMOTE, SERVER, 1, "tcp", True),
    ("namespaceSelector and podSelector combined: both must match", [policy({"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "nope"}}}]}]})],
     REMOTE, SERVER, 1, "tcp", False),
    ("namespaceSelector and podSelector combined: match", [policy({"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "client"}}}]}]})],
     REMOTE, SERVER, 1, "tcp", True),
    ("ipBlock allows its cidr", [policy({"podSelector": {}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.5.0/24"]}}]}]})],
     "192.168.1.1", SERVER, 80, "tcp", True),
    ("ipBlock except is refused", [policy({"podSelector": {}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.5.0/24"]}}]}]})],
     "192.168.5.7", SERVER, 80, "tcp", False),
    ("ipBlock except falls through to the next rule", [policy({"podSelector": {}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.5.0/24"]}}]},
        {"from": [{"ipBlock": {"cidr": "192.168.5.7/32"}}]}]})],
     "192.168.5.7", SERVER, 80, "tcp", True),
    ("named port resolved on the target pod", [policy({"podSelector": {}, "ingress": [
        {"ports": [{"port": "http"}]}]})], CLIENT, SERVER, 8080, "tcp", True),
    ("named port: other port refused", [policy({"podSelector": {}, "ingress": [
        {"ports": [{"port": "http"}]}]})], CLIENT, SERVER, 80, "tcp", False),
    ("named port a pod lacks matches nothing", [policy({"podSelector": {}, "ingress": [
        {"ports": [{"port": "http"}]}]})], SERVER, CLIENT, 8080, "tcp", False),
    ("endPort range", [policy({"podSelector": {}, "ingress": [
        {"ports": [{"port": 8000, "endPort": 8100}]}]})], CLIENT, SERVER, 8100, "tcp", True),
    ("endPort range: above", [policy({"podSelector": {}, "ingress": [
        {"ports": [{"port": 8000, "endPort": 8100}]}]})], CLIENT, SERVER, 8101, "tcp", False),
    ("default deny egress", [DENY_EGRESS], CLIENT, SERVER, 8080, "tcp", False),
    ("default deny egress: DNS still allowed", [DENY_EGRESS], CLIENT, DNS, 53, "udp", True),
    ("default deny egress: DNS over tcp allowed", [DENY_EGRESS], CLIENT, DNS, 53, "tcp", True),
    ("default deny egress: port 53 elsewhere refused", [DENY_EGRESS], CLIENT, "8.8.8.8", 53, "udp", False),
    ("egress allowed to a pod selector", [DENY_EGRESS, policy({"podSelector": {}, "policyTypes": ["Egress"],
                                                              "egress": [{"to": [{"podSelector": {}}]}]})],
     CLIENT, SERVER, 8080, "tcp", True),
    ("egress named port resolved on the destination", [policy({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"ports": [{"port": "http"}]}]})], CLIENT, SERVER, 8080, "tcp", True),
    ("egress named port: pods without it refused", [policy({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"ports": [{"port": "http"}]}]})], CLIENT, OTHER, 8080, "tcp", False),
    ("return traffic of an allowed connection", [DENY_INGRESS, DENY_EGRESS], SERVER, CLIENT, 40000, "tcp", True),
    ("policies of another namespace do not select", [policy({"podSelector": {}}, ns="monitoring")],
     CLIENT, SERVER, 8080, "tcp", True),
]


@pytest.mark.parametrize(("policies", "src", "dst", "port", "proto", "want"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdict(policies: list[NetworkPolicy], src: PodRecord | str, dst: PodRecord | str, port: int,
                 proto: str, want: bool) -> None:
    established = src is SERVER and dst is CLIENT and port == 40000
    assert allowed(policies, src, dst, port, proto, established=established) is want


def test_only_local_pods_get_chains() -> None:
    chains = compile_policies(NetpolInput([DENY_INGRESS], PODS, NAMESPACES, "node-2")).chains
    assert pod_chain(REMOTE, "I") not in chains  # monitoring has no policy
    assert pod_chain(SERVER, "I") not in chains  # server is on node-1
    chains = compile_policies(NetpolInput([DENY_INGRESS], PODS, NAMESPACES, NODE)).chains
    assert {pod_chain(p, "I") for p in (SERVER, CLIENT, OTHER)} <= set(chains)


def test_no_policy_compiles_to_the_forward_chain_only() -> None:
    assert list(compile_policies(NetpolInput([], PODS, NAMESPACES, NODE)).chains) == [NP_FORWARD]


def test_pod_record_skips_pods_without_an_ip_of_their_own() -> None:
    base: dict[str, Any] = {"metadata": {"name": "a", "namespace": "x", "labels": {"k": "v"}},
                            "spec": {"nodeName": NODE, "containers": [
                                {"name": "c", "image": "i", "ports": [{"name": "web", "containerPort": 80}]}]}}
    assert pod_record(Pod.from_dict(base)) is None
    rec = pod_record(Pod.from_dict({**base, "status": {"podIP": "10.244.1.9", "phase": "Running"}}))
    assert rec is not None and rec.named_port("web", "TCP") == 80 and rec.labels == (("k", "v"),)
    host = {**base, "spec": {**base["spec"], "hostNetwork": True}, "status": {"podIP": "10.88.0.11"}}
    assert pod_record(Pod.from_dict(host)) is None
    done = {**base, "status": {"podIP": "10.244.1.9", "phase": "Succeeded"}}
    assert pod_record(Pod.from_dict(done)) is None

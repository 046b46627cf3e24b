"""The local cluster's "machines": one network namespace per node on a host bridge.

Why namespaces: `kubelite up --nodes 3` must behave like three hosts on a LAN.
Each node gets its own network stack (`kl-<node>`), its own IP on the host
bridge `kl-br0` (10.88.0.1/24; node i is 10.88.0.1i), its own pod bridge,
routes and iptables rules, created by its kubelet inside that namespace. The
control plane stays on the host and is reached at the bridge IP.

Why the kubelet enters only the network namespace (`nsenter --net`) and not
`ip netns exec`: the latter also gives the process a private mount namespace,
so the overlay rootfs and namespace-file mounts the runc runtime makes would be
invisible on the host, lost to a restarted kubelet (which gets a new private
namespace) and impossible for `kubelite down` to find. A node here shares the
host's filesystem anyway; only its network is its own.

Everything made here is described by `NetworkState` (saved in cluster.json
before it is created), so `kubelite down` removes it even after a crash. All
iptables rules carry a `kubelite:<bridge>` comment.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
SYSCTLS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"}


class NetworkError(Exception):
    """A host networking step failed; the message has the command and its error."""


@dataclass(frozen=True)
class NodeNet:
    name: str  # node name, e.g. node-1
    netns: str  # e.g. kl-node-1
    veth: str  # host end of the node's link, e.g. kl-br0-v1 (<= 15 chars)
    ip: str  # e.g. 10.88.0.11


@dataclass
class NetworkState:
    """What `up` creates on the host (and `down` removes)."""

    net_id: int
    bridge: str
    host_ip: str
    prefix_len: int
    nodes: list[NodeNet] = field(default_factory=list)
    iptables: list[list[str]] = field(default_factory=list)  # [table, chain, *rule-spec]

    @property
    def comment(self) -> str:
        return f"kubelite:{self.bridge}"

    def node(self, name: str) -> NodeNet:
        return next(n for n in self.nodes if n.name == name)

    def netns_path(self, node: str) -> str:
        return str(NETNS_DIR / self.node(node).netns)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> NetworkState:
        nodes = [NodeNet(**n) for n in d.get("nodes", [])]  # type: ignore[attr-defined]
        return cls(net_id=int(d["net_id"]), bridge=str(d["bridge"]),  # type: ignore[call-overload]
                   host_ip=str(d["host_ip"]), prefix_len=int(d["prefix_len"]),  # type: ignore[call-overload]
                   nodes=nodes, iptables=[list(r) for r in d.get("iptables", [])])  # type: ignore[attr-defined]


def plan_network(net_id: int, node_names: list[str]) -> NetworkState:
    """Names and addresses for cluster number `net_id` (0: the default `kl-br0`, 10.88.0.0/24).

    Other ids let a test cluster run beside a user's without a name or subnet clash.
    """
    if not 0 <= net_id <= 255:
        raise ValueError(f"network id must be 0..255, got {net_id}")
    if len(node_names) > 40:
        raise ValueError("at most 40 nodes fit the node subnet plan (10.88.X.11-50)")
    bridge = f"kl-br{net_id}"
    ns_prefix = "kl" if net_id == 0 else f"kl{net_id}"
    nodes = [
        NodeNet(name=name, netns=f"{ns_prefix}-{name}", veth=f"{bridge}-v{i}", ip=f"10.88.{net_id}.{10 + i}")
        for i, name in enumerate(node_names, start=1)
    ]
    for n in nodes:
        if len(n.veth) > 15:
            raise ValueError(f"interface name {n.veth!r} is too long")
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", n.netns):
            raise ValueError(f"bad node name for a namespace: {n.name!r}")
    return NetworkState(net_id=net_id, bridge=bridge, host_ip=f"10.88.{net_id}.1", prefix_len=24, nodes=nodes)


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkError(f"{' '.join(argv)}: {exc}") from None
    if check and proc.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit status {proc.returncode}'}")
    return proc


def missing_tools() -> list[str]:
    return [t for t in ("ip", "iptables", "nsenter", "sysctl") if shutil.which(t) is None]


def _link_exists(name: str, netns: str | None = None) -> bool:
    argv = ["ip", *(["-n", netns] if netns else []), "link", "show", name]
    return _run(*argv, check=False).returncode == 0


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def in_use(state: NetworkState) -> list[str]:
    """The bridge / node namespaces of this plan that already exist (another cluster's)."""
    found = [f"bridge {state.bridge}"] if _link_exists(state.bridge) else []
    return found + [f"netns {n.netns}" for n in state.nodes if netns_exists(n.netns)]


def create_network(state: NetworkState) -> None:
    """Bridge, node namespaces, veths, addresses, sysctls, host rules. Idempotent."""
    missing = missing_tools()
    if missing:
        raise NetworkError(f"missing tools: {', '.join(missing)} (install iproute2, iptables, util-linux, procps)")
    if not _link_exists(state.bridge):
        _run("ip", "link", "add", state.bridge, "type", "bridge")
    addrs = _run("ip", "-4", "-o", "addr", "show", "dev", state.bridge).stdout
    if f"{state.host_ip}/{state.prefix_len}" not in addrs:
        _run("ip", "addr", "add", f"{state.host_ip}/{state.prefix_len}", "dev", state.bridge)
    _run("ip", "link", "set", state.bridge, "up")
    for node in state.nodes:
        _create_node(state, node)
    # Nodes talk to each other (and pods across nodes) through the host bridge: a host
    # firewall with a DROP forward policy (e.g. left by Docker) must not cut them off.
    for direction in ("-i", "-o"):
        rule = ["filter", "FORWARD", direction, state.bridge, "-m", "comment", "--comment", state.comment,
                "-j", "ACCEPT"]
        if not _iptables("-C", rule):
            _iptables("-I", rule, check=True)
        if rule not in state.iptables:
            state.iptables.append(rule)


def route_out_via_host(state: NetworkState) -> None:
    """Give each node namespace a default route through the host, and let the host forward. Idempotent.

    Why (the VXLAN pod network): a node's VTEP sends to other machines' public addresses, which are
    not on the bridge; host-gw nodes only ever talk on the bridge and need neither.
    """
    _run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    for node in state.nodes:
        _run("ip", "-n", node.netns, "route", "replace", "default", "via", state.host_ip)


def forward_node_ports(state: NetworkState, address: str, ports: tuple[int, int]) -> None:
    """NodePorts arriving at this machine's `address` go to its first node (`kubelite init`). Idempotent.

    Why: the machine's node is a namespace behind the bridge, so its Node's address is the bridge
    one; users expect NodePorts on every machine's address. Replies pass back through the host (the
    node's default route), whose connection tracking undoes the translation. Removed with the network.
    """
    node = state.nodes[0]
    for proto in ("tcp", "udp"):
        rule = ["nat", "PREROUTING", "-d", address, "-p", proto, "--dport", f"{ports[0]}:{ports[1]}",
                "-m", "comment", "--comment", state.comment, "-j", "DNAT", "--to-destination", node.ip]
        if not _iptables("-C", rule):
            _iptables("-A", rule, check=True)
        if rule not in state.iptables:
            state.iptables.append(rule)


def _iptables(op: str, rule: list[str], check: bool = False) -> bool:
    """`iptables -w -t TABLE OP CHAIN SPEC...`; True when it succeeded."""
    table, chain, *spec = rule
    return _run("iptables", "-w", "-t", table, op, chain, *spec, check=check).returncode == 0


def _create_node(state: NetworkState, node: NodeNet) -> None:
    if not netns_exists(node.netns):
        _run("ip", "netns", "add", node.netns)
    if not _link_exists(node.veth):
        if _link_exists("eth0", node.netns):
            _run("ip", "-n", node.netns, "link", "del", "eth0")
        _run("ip", "link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
    _run("ip", "link", "set", node.veth, "master", state.bridge, "up")
    ns = ["ip", "-n", node.netns]
    addrs = _run(*ns, "-4", "-o", "addr", "show", "dev", "eth0").stdout
    if f"{node.ip}/{state.prefix_len}" not in addrs:
        _run(*ns, "addr", "add", f"{node.ip}/{state.prefix_len}", "dev", "eth0")
    _run(*ns, "link", "set", "eth0", "up")
    _run(*ns, "link", "set", "lo", "up")
    _run("ip", "netns", "exec", node.netns, "sysctl", "-qw", *(f"{k}={v}" for k, v in SYSCTLS.items()))


def node_exec_prefix(state: NetworkState, node: str) -> list[str]:
    """argv prefix that runs a command in the node's network namespace (host mounts kept)."""
    return ["nsenter", f"--net={state.netns_path(node)}", "--"]


def delete_network(state: NetworkState) -> list[str]:
    """Remove everything `create_network` made; returns problems (empty when clean)."""
    problems: list[str] = []
    for node in state.nodes:
        if netns_exists(node.netns):
            proc = _run("ip", "netns", "del", node.netns, check=False)
            if proc.returncode != 0:
                problems.append(f"netns {node.netns}: {proc.stderr.strip()}")
        if _link_exists(node.veth):
            _run("ip", "link", "del", node.veth, check=False)
    if _link_exists(state.bridge):
        proc = _run("ip", "link", "del", state.bridge, check=False)
        if proc.returncode != 0:
            problems.append(f"bridge {state.bridge}: {proc.stderr.strip()}")
    for rule in state.iptables:
        for _ in range(100):  # a rule inserted twice (crashed `up` retried) goes twice
            if not _iptables("-D", rule):
                break
    problems += [f"iptables rule left: {r}" for r in leftover_rules(state.comment)]
    return problems


def leftover_rules(comment: str) -> list[str]:
    """Host iptables rules (any table) that still carry `comment`."""
    out: list[str] = []
    for table in ("filter", "nat", "mangle", "raw"):
        proc = _run("iptables-save", "-t", table, check=False)
        out += [line for line in proc.stdout.splitlines()
                if f'--comment "{comment}"' in line or f"--comment {comment} " in line + " "]
    return out


def dumps(state: NetworkState) -> str:
    return json.dumps(state.to_dict())

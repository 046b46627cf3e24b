"""The plan of a local cluster: which daemons, on which ports, with which flags.

Why a separate, pure module: `up`, `down`, `status` and the tests all need the
same answer to "what does a cluster with these options consist of", and keeping
it free of process handling makes it trivially testable.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubelite.netns import NetworkState, plan_network
from kubelite.pki import flags as pki
from kubelite.pki.flags import cert_path, key_path

if TYPE_CHECKING:
    from kubelite.pki.certs import CertSpec


LEADER_ELECT_RETRY_SECONDS = 5.0
"""The scheduler's and controller-manager's `--leader-elect-retry-period` here (Kubernetes: 2 s).

Why: the holder renews its Lease every retry period, and on an idle cluster these renewals
were 1 of its 1.4 writes a second (each a Raft round on every kvstore member, an apiserver
Update and a watch event). `up` runs one instance of each, so a standby's take-over time is
moot; 5 s still gives the holder two attempts within the 10 s renew deadline and three
renewals per 15 s lease. A standby (a restarted instance) takes over after the 15 s lease
plus at most one period, as before plus 3 s."""


KVSTORE_HEARTBEAT_MS = 200
"""The Raft heartbeat interval of `up`'s kvstore members (etcd's default, and the kvstore's: 100 ms).

Why: on an idle cluster the heartbeats were nearly all the kvstore's work (each one a TLS record,
a wake-up and a loop turn on the leader and on a follower, and the same for its answer): 2.3 % of
a core of the cluster's 3.7 %. Every 200 ms they cost 1.6 %. What detects a dead leader is the
followers' election timeout, unchanged (etcd's 1 s, randomized up to 2 s), and a new leader
appends at once: leader SIGKILL -> next acknowledged put measured p50 1.19 s at 100 ms and
1.27 s at 200 ms, max 1.64 / 1.58 s (`bench/kvstore_failover.py`). A follower now tolerates a
leader silent for 800 ms instead of 900 before it campaigns; the ratio stays within etcd's rule
(election timeout at least 5 heartbeats)."""


def default_data_dir() -> Path:
    """`/var/lib/kubelite` for root (like other cluster agents), else under the home directory."""
    if os.geteuid() == 0:
        return Path("/var/lib/kubelite")
    return Path.home() / ".kubelite" / "cluster"


def cluster_name(port_offset: int) -> str:
    """The name of a local cluster: `kubelite` on the default ports, `kubelite-<offset>` beside it.

    Why from the port offset: two clusters on one machine must differ in it anyway, so the name is
    unique among running clusters; it names the cluster's kctl and kubectl contexts and the cgroup
    parent of its containers, so nothing of one cluster is ever mistaken for another's."""
    return "kubelite" if port_offset == 0 else f"kubelite-{port_offset}"


def default_config_path() -> Path:
    """Where kctl reads its config: `$KUBELITE_CONFIG`, else ~/.kubelite/config (so `up` writes where
    the kctl of the same shell will look)."""
    from kubectl.config import config_path

    return config_path()


def encryption_config_path(data_dir: Path) -> Path:
    """The apiserver's EncryptionConfiguration (`up` creates it with a random key, mode 0600)."""
    return data_dir / "encryption-config.yaml"


def service_account_key_path(data_dir: Path) -> Path:
    """The key that signs ServiceAccount tokens (`up` creates it, RSA-2048, mode 0600); its public half
    sits next to it as `sa.pub` (what `--service-account-key-file` verifies with)."""
    return data_dir / "pki" / "sa.key"


@dataclass(frozen=True)
class Component:
    """One daemon process of the local cluster."""

    name: str
    argv: list[str]
    health: str  # host:port of its /readyz endpoint
    netns: str | None = None  # path of the node network namespace it runs in (None: the host's)

    @property
    def log_name(self) -> str:
        return f"{self.name}.log"


@dataclass
class ClusterPlan:
    """Everything `kubelite up` starts, derived only from the user's options."""

    data_dir: Path
    nodes: int
    port_offset: int = 0
    runtime: str = "process"
    components: list[Component] = field(default_factory=list)
    # Nodes as network namespaces on a host bridge (runc runtime); None: nodes share the host
    # network on loopback addresses (process runtime).
    network: NetworkState | None = None
    registry: str = ""  # HOST:PORT of the cluster's image registry ("" when none)
    advertise_address: str = ""  # `kubelite init --advertise-address`: where other machines reach the apiserver

    @property
    def control_host(self) -> str:
        """Where the apiserver listens: the advertised address (`init`), else the bridge address when
        nodes live in namespaces (they cannot reach the host's loopback), else loopback."""
        if self.advertise_address:
            return self.advertise_address
        return self.network.host_ip if self.network is not None else "127.0.0.1"

    @property
    def server(self) -> str:
        return f"{self.control_host}:{6443 + self.port_offset}"

    @property
    def https_port(self) -> int:
        """The Kubernetes HTTPS API (`--secure-port`): 6445+offset, beside gRPC on 6443+offset. Ends in 5,
        which no other local-cluster port does, so clusters at offsets 10 apart never collide."""
        return 6445 + self.port_offset

    @property
    def https_server(self) -> str:
        return f"https://{self.control_host}:{self.https_port}"

    @property
    def registry_listen(self) -> str:
        return f"{self.control_host}:{5000 + self.port_offset}"

    @property
    def registry_tls(self) -> tuple[Path, Path] | None:
        """The registry's certificate and key when it serves TLS: for `init` (nodes on other machines
        pull over the network and verify it with the cluster CA); `up`'s stays plain HTTP on the bridge."""
        if not (self.registry and self.advertise_address):
            return None
        return cert_path(self.pki_dir, pki.REGISTRY), key_path(self.pki_dir, pki.REGISTRY)

    @property
    def name(self) -> str:
        return cluster_name(self.port_offset)

    def cgroup_parent(self, node: str) -> str:
        """`kubelite/<cluster>/<node>`: `down` of one cluster removes only its own cgroups."""
        return f"kubelite/{self.name}/{node}"

    @property
    def node_names(self) -> list[str]:
        return [f"node-{i}" for i in range(1, self.nodes + 1)]

    @property
    def pki_dir(self) -> Path:
        return pki_dir(self.data_dir)

    def node_ip(self, name: str) -> str:
        return node_ip(self.node_names.index(name) + 1) if self.network is None else self.network.node(name).ip

    def cert_specs(self) -> list[CertSpec]:
        """Every certificate this cluster's daemons use (see `kubelite.pki.cluster`)."""
        from kubelite.pki.cluster import cluster_specs  # cryptography: only `up` issues certificates

        return cluster_specs([self.control_host], [(n, self.node_ip(n)) for n in self.node_names])


def pki_dir(data_dir: Path) -> Path:
    """Where `kubelite up` keeps the cluster's CAs, certificates and keys."""
    return data_dir / "pki"


def node_ip(index: int) -> str:
    """Each node gets its own loopback address so kubelets can share port numbers."""
    return f"127.0.0.{10 + index}"


def kvstore_components(data_dir: Path, members: int, port_offset: int) -> tuple[list[Component], str]:
    """The kvstore members and the apiserver's --etcd-servers value.

    One member keeps the historic layout (`kvstore`, data in `<data>/kvstore`, ports
    2379/2381). Several members form one Raft cluster: member i (from 1) uses client
    port 2379+10(i-1), peer port +1, health port +2, the Raft stream port +3 (the peer
    port + 2 every member derives, `kvstore.raftstream`), and data in `<data>/kvstore-i`.
    """
    o = port_offset
    tls = pki.kvstore_flags(pki_dir(data_dir))
    if members == 1:
        kv = f"127.0.0.1:{2379 + o}"
        return [Component(
            "kvstore",
            ["kvstore", "--name", "kv-1", "--data-dir", str(data_dir / "kvstore"),
             "--listen-client", kv, "--listen-health", f"127.0.0.1:{2381 + o}", *tls],
            f"127.0.0.1:{2381 + o}",
        )], kv
    base = {i: 2379 + o + 10 * (i - 1) for i in range(1, members + 1)}
    initial = ",".join(f"kv-{i}=https://127.0.0.1:{b + 1}" for i, b in base.items())
    comps = [
        Component(
            f"kvstore-{i}",
            ["kvstore", "--name", f"kv-{i}", "--data-dir", str(data_dir / f"kvstore-{i}"),
             "--listen-client", f"127.0.0.1:{b}", "--listen-peer", f"127.0.0.1:{b + 1}",
             "--listen-health", f"127.0.0.1:{b + 2}", "--initial-cluster", initial,
             "--heartbeat-interval", str(KVSTORE_HEARTBEAT_MS), *tls],
            f"127.0.0.1:{b + 2}",
        )
        for i, b in base.items()
    ]
    return comps, ",".join(f"127.0.0.1:{b}" for b in base.values())


def plan_cluster(
    data_dir: Path, nodes: int, port_offset: int = 0, runtime: str = "process", net_id: int = 0,
    registry: bool = False, kv_members: int = 1, pod_network: str = "host-gw", advertise_address: str = "",
) -> ClusterPlan:
    """Build the component list in start order (storage first, nodes last).

    The runc runtime gets real node networking (one namespace per node, `net_id`
    picks the bridge and subnet); the process runtime cannot isolate anything,
    so its nodes are loopback addresses on the host. Every link is TLS with
    client certificates from the cluster's PKI (`<data>/pki`, made by `up`); the apiserver
    authorizes with Node,RBAC and also serves the Kubernetes HTTPS API (`https_port`), which
    `default/kubernetes` points pods at. `pod_network` (runc) is how the kubelets connect the
    nodes' pods: host-gw routes on the shared bridge, or a VXLAN overlay named after `net_id`.
    """
    o = port_offset
    kv_comps, kv = kvstore_components(data_dir, kv_members, o)
    plan = ClusterPlan(data_dir=data_dir, nodes=nodes, port_offset=o, runtime=runtime,
                       advertise_address=advertise_address)
    if runtime == "runc":
        plan.network = plan_network(net_id, plan.node_names)
    if registry:
        plan.registry = plan.registry_listen
    server = plan.server
    certs = plan.pki_dir
    plan.components = [
        *kv_comps,
        Component(
            "apiserver",
            ["apiserver", "--etcd-servers", kv, "--listen", server,
             "--listen-health", f"127.0.0.1:{6080 + o}",
             "--encryption-provider-config", str(encryption_config_path(data_dir)),
             "--service-account-signing-key-file", str(service_account_key_path(data_dir)),
             "--service-account-key-file", str(service_account_key_path(data_dir).with_suffix(".pub")),
             "--authorization-mode", "Node,RBAC", "--enable-bootstrap-token-auth",
             "--secure-port", str(plan.https_port), "--bind-address", plan.control_host,
             *pki.apiserver_flags(certs)],
            f"127.0.0.1:{6080 + o}",
        ),
        Component(
            "scheduler",
            ["scheduler", "--server", server, "--listen-health", f"127.0.0.1:{10259 + o}",
             "--leader-elect-retry-period", f"{LEADER_ELECT_RETRY_SECONDS:g}", *pki.client_flags(certs, "scheduler")],
            f"127.0.0.1:{10259 + o}",
        ),
        Component(
            "controller-manager",
            ["controller-manager", "--server", server, "--listen-health", f"127.0.0.1:{10257 + o}",
             "--leader-elect-retry-period", f"{LEADER_ELECT_RETRY_SECONDS:g}",
             "--root-ca-file", str(certs / f"{pki.CLUSTER_CA}.crt"), *pki.client_flags(certs, "controller-manager"),
             "--cluster-signing-cert-file", str(certs / f"{pki.CLUSTER_CA}.crt"),
             "--cluster-signing-key-file", str(certs / f"{pki.CLUSTER_CA}.key")],
            f"127.0.0.1:{10257 + o}",
        ),
    ]
    for i, name in enumerate(plan.node_names, start=1):
        ip = node_ip(i) if plan.network is None else plan.network.node(name).ip
        network = ["--pod-network", pod_network, "--net-id", str(net_id)] if plan.network is not None else []
        netns = plan.network.netns_path(name) if plan.network is not None else None
        registry_ca = ["--registry-ca-file", str(certs / f"{pki.CLUSTER_CA}.crt")] if plan.registry_tls else []
        plan.components.append(kubelet_component(name, ip, o, data_dir / "nodes" / name, runtime,
                                                 ["--server", server, *pki.kubelet_flags(certs, name), *network,
                                                  *registry_ca, "--cgroup-parent", plan.cgroup_parent(name)],
                                                 plan.registry, netns))
    return plan


def kubelet_component(name: str, ip: str, port_offset: int, node_dir: Path, runtime: str, identity: list[str],
                      registry: str = "", netns: str | None = None) -> Component:
    """A node's kubelet: its API on `ip:10250+offset`, health on 10248+offset, state in `node_dir`;
    `identity` says how it reaches and authenticates to the apiserver (`up`: --server and the PKI's
    certificates; `join`: --bootstrap-kubeconfig)."""
    o = port_offset
    # Plain health only on loopback: the node namespace's own (probed from there), the machine's own
    # for a joined node, or the node's 127.0.0.x address when nodes share the host's network.
    health = f"{ip if ip.startswith('127.') else '127.0.0.1'}:{10248 + o}"
    argv = ["kubelet", *identity, "--node-name", name, "--node-ip", ip, "--listen", f"{ip}:{10250 + o}",
            "--listen-health", health, "--data-dir", str(node_dir), "--runtime", runtime]
    if registry:
        argv += ["--default-registry", registry]
    return Component(f"kubelet-{name}", argv, health, netns)


@dataclass
class RunningProcess:
    """What `down` needs to stop a daemon safely: its pid and that pid's start time."""

    name: str
    pid: int
    start_ticks: int
    health: str
    netns: str | None = None  # the network namespace `health` is reached in (a node's loopback)


def state_file(data_dir: Path) -> Path:
    return data_dir / "cluster.json"


def save_state(data_dir: Path, server: str, processes: list[RunningProcess], **extra: Any) -> None:
    """Write atomically so a crash mid-`up` never leaves a half-written state file.

    Keys other than server/processes (network, runtime, ...) are kept from the
    existing file unless given in `extra`, so restarting one daemon never drops
    what `down` must clean up.
    """
    path = state_file(data_dir)
    data = load_extra(data_dir)
    data.update(extra)
    data.update({"server": server, "processes": [asdict(p) for p in processes]})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def load_extra(data_dir: Path) -> dict[str, Any]:
    """The whole state file as a dict ({} when there is none or it is unreadable)."""
    try:
        data = json.loads(state_file(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_state(data_dir: Path) -> tuple[str, list[RunningProcess]]:
    data = json.loads(state_file(data_dir).read_text())
    return str(data["server"]), [RunningProcess(**p) for p in data["processes"]]

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


def default_data_dir() -> Path:
    """`/var/lib/kubelite` for root (like other cluster agents), else under the home directory."""
    if os.geteuid() == 0:
        return Path("/var/lib/kubelite")
    return Path.home() / ".kubelite" / "cluster"


def default_config_path() -> Path:
    return Path.home() / ".kubelite" / "config"


@dataclass(frozen=True)
class Component:
    """One daemon process of the local cluster."""

    name: str
    argv: list[str]
    health: str  # host:port of its /readyz endpoint

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

    @property
    def server(self) -> str:
        return f"127.0.0.1:{6443 + self.port_offset}"

    @property
    def node_names(self) -> list[str]:
        return [f"node-{i}" for i in range(1, self.nodes + 1)]


def node_ip(index: int) -> str:
    """Each node gets its own loopback address so kubelets can share port numbers."""
    return f"127.0.0.{10 + index}"


def plan_cluster(data_dir: Path, nodes: int, port_offset: int = 0, runtime: str = "process") -> ClusterPlan:
    """Build the component list in start order (storage first, nodes last)."""
    o = port_offset
    kv = f"127.0.0.1:{2379 + o}"
    plan = ClusterPlan(data_dir=data_dir, nodes=nodes, port_offset=o, runtime=runtime)
    server = plan.server
    plan.components = [
        Component(
            "kvstore",
            ["kvstore", "--name", "kv-1", "--data-dir", str(data_dir / "kvstore"),
             "--listen-client", kv, "--listen-health", f"127.0.0.1:{2381 + o}"],
            f"127.0.0.1:{2381 + o}",
        ),
        Component(
            "apiserver",
            ["apiserver", "--etcd-servers", kv, "--listen", server,
             "--listen-health", f"127.0.0.1:{6080 + o}"],
            f"127.0.0.1:{6080 + o}",
        ),
        Component(
            "scheduler",
            ["scheduler", "--server", server, "--listen-health", f"127.0.0.1:{10259 + o}"],
            f"127.0.0.1:{10259 + o}",
        ),
        Component(
            "controller-manager",
            ["controller-manager", "--server", server, "--listen-health", f"127.0.0.1:{10257 + o}"],
            f"127.0.0.1:{10257 + o}",
        ),
    ]
    for i, name in enumerate(plan.node_names, start=1):
        ip = node_ip(i)
        plan.components.append(
            Component(
                f"kubelet-{name}",
                ["kubelet", "--server", server, "--node-name", name, "--node-ip", ip,
                 "--listen", f"{ip}:{10250 + o}", "--listen-health", f"{ip}:{10248 + o}",
                 "--data-dir", str(data_dir / "nodes" / name), "--runtime", runtime],
                f"{ip}:{10248 + o}",
            )
        )
    return plan


@dataclass
class RunningProcess:
    """What `down` needs to stop a daemon safely: its pid and that pid's start time."""

    name: str
    pid: int
    start_ticks: int
    health: str


def state_file(data_dir: Path) -> Path:
    return data_dir / "cluster.json"


def save_state(data_dir: Path, server: str, processes: list[RunningProcess]) -> None:
    """Write atomically so a crash mid-`up` never leaves a half-written state file."""
    path = state_file(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"server": server, "processes": [asdict(p) for p in processes]}, indent=2))
    os.replace(tmp, path)


def load_state(data_dir: Path) -> tuple[str, list[RunningProcess]]:
    data = json.loads(state_file(data_dir).read_text())
    return str(data["server"]), [RunningProcess(**p) for p in data["processes"]]

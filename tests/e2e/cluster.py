"""Helpers for end-to-end tests on a whole local cluster (`kubelite up`) of real processes.

Each cluster lives in a temporary data directory, on ports shifted by a random
offset (and, for runc clusters, its own bridge and node namespaces) so runs
never collide with a user's cluster or with each other; teardown runs
`kubelite down` and fails the run if anything the cluster started is left.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from kubelite import addons, cleanup, netns, supervisecli
from kubelite.cleanup import processes_with_env
from kubelite.localcluster import load_state
from kubelite.pki import cluster as pki
from kubelite.procs import http_get_status, is_same_process_alive, live_pids_with
from kubelite.settings import ClusterSettings

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


class LocalCluster:
    """Handle on a running `kubelite up` cluster."""

    def __init__(self, data_dir: Path, nodes: int, port_offset: int, runtime: str = "process",
                 net_id: int = 0, kv_members: int = 3, tuning: addons.Tuning | None = None,
                 pod_network: str = "host-gw") -> None:
        self.data_dir = data_dir
        self.nodes = nodes
        self.port_offset = port_offset
        self.runtime = runtime
        self.net_id = net_id
        self.kv_members = kv_members
        self.pod_network = pod_network
        self.tuning = tuning or addons.Tuning()
        self.plan = self.settings().plan(data_dir)  # as `kubelite up` plans it: proxies, DNS, tuned flags
        self.server = self.plan.server
        # KUBECONFIG: `up` merges its kubectl context there; never into the user's ~/.kube/config.
        self.kubeconfig = data_dir / "kubeconfig"
        self.env = dict(os.environ, KUBELITE_SERVER=self.server, KUBELITE_CONFIG=str(data_dir / "config"),
                        KUBECONFIG=str(self.kubeconfig))

    def settings(self) -> ClusterSettings:
        return ClusterSettings(nodes=self.nodes, port_offset=self.port_offset, runtime=self.runtime,
                               net_id=self.net_id, kv_members=self.kv_members, tuning=self.tuning,
                               pod_network=self.pod_network)

    def credentials(self) -> grpc.ChannelCredentials:
        """The admin's TLS credentials (`kubelite up` made the cluster's PKI under the data dir)."""
        return pki.admin_tls(self.plan.pki_dir).credentials()

    def add_node(self) -> str:
        """`kubelite add-node`; returns the new node's name."""
        name = f"node-{self.nodes + 1}"
        added = self.kubelite("add-node", "--data-dir", str(self.data_dir), timeout=120)
        assert added.returncode == 0, f"kubelite add-node failed:\n{added.stdout}\n{added.stderr}"
        assert f"{name} is Ready" in added.stdout, added.stdout
        self.nodes += 1
        self.plan = self.settings().plan(self.data_dir)
        return name

    def up_args(self) -> list[str]:
        return ["up", "--nodes", str(self.nodes), "--data-dir", str(self.data_dir), "--port-offset",
                str(self.port_offset), "--runtime", self.runtime, "--net-id", str(self.net_id),
                "--kv-members", str(self.kv_members), "--pod-network", self.pod_network,
                "--config-out", str(self.data_dir / "config"), *self.tuning.up_flags()]

    def kubelite(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kubelite.main", *args], env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )

    def kctl(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kubectl.main", "--server", self.server, *args], env=self.env,
            capture_output=True, text=True, timeout=timeout, input=input,
        )

    def kctl_ok(self, *args: str, input: str | None = None) -> str:
        result = self.kctl(*args, input=input)
        assert result.returncode == 0, f"kctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def kill_component(self, name: str) -> None:
        """SIGKILL one daemon (no chance to flush or say goodbye) and keep it down: the supervisor is
        asked to (`kill`), since it would otherwise restart it, which is what a dead machine is not."""
        _, procs = load_state(self.data_dir)
        proc = next(p for p in procs if p.name == name)
        answer = supervisecli.request(self.data_dir, "kill", name)
        assert answer.startswith("ok"), answer
        wait_for(lambda: not is_same_process_alive(proc.pid, proc.start_ticks), 10, f"{name} to die")

    def restart_component(self, name: str) -> None:
        """`kubelite restart NAME`: the supervisor starts it again (and records its new pid for `down`)."""
        restarted = self.kubelite("restart", name, "--data-dir", str(self.data_dir), timeout=90)
        assert restarted.returncode == 0, f"kubelite restart {name} failed:\n{restarted.stdout}\n{restarted.stderr}"

    def supervised(self, name: str) -> dict[str, Any]:
        """What the supervisor records for `name` (state, pid, restarts, last_exit)."""
        return dict(supervisecli.read_state(self.data_dir)["components"][name])

    def restarted_and_ready(self, name: str, old_pid: int) -> bool:
        """The supervisor runs `name` under a new pid and its /readyz answers 200."""
        info = self.supervised(name)
        if info.get("pid") in (None, old_pid) or info.get("state") != "Running":
            return False
        comp = next(x for x in self.plan.components if x.name == name)
        return asyncio.run(http_get_status(comp.health, "/readyz", netns=comp.netns)) == 200


def leftovers(c: LocalCluster) -> list[str]:
    """Everything of this cluster still present on the host (empty after a clean `down`)."""
    found = [f"process {pid}" for pid in processes_with_env(f"KUBELITE_CLUSTER_DIR={c.data_dir}")]
    found += [f"nginx {pid}" for pid in live_pids_with(f"{c.data_dir}/ingress/")]
    found += [f"mount {m}" for m in cleanup.mounts_under(c.data_dir)]
    found += [f"runc container {x}" for x in cleanup.remaining_runc_containers(c.data_dir)]
    net = c.plan.network
    if net is not None:
        found += [f"netns {n.netns}" for n in net.nodes if netns.netns_exists(n.netns)]
        if subprocess.run(["ip", "link", "show", net.bridge], capture_output=True).returncode == 0:
            found.append(f"bridge {net.bridge}")
        found += [f"iptables: {r}" for r in netns.leftover_rules(net.comment)]
    return found


def runc_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    missing = [t for t in ("runc", "conmon", "docker-registry") if shutil.which(t) is None]
    missing += netns.missing_tools()
    if not Path("/usr/lib/cni/bridge").exists():
        missing.append("/usr/lib/cni (containernetworking-plugins)")
    return f"missing: {', '.join(missing)}" if missing else None


HIGHEST_BASE_PORT = 10259
"""The highest port a cluster uses before its `--port-offset` is added (kube-scheduler's 10259)."""


def random_port_offset() -> int:
    """A random `--port-offset` whose every port stays below the kernel's ephemeral range.

    Why: a port inside that range can be taken, at any moment, as the local port of
    some outgoing connection on the machine; a cluster placed there lost a race for
    its apiserver's port ("address already in use") in CI.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = max(10_020, min(low, 32768) - HIGHEST_BASE_PORT - 20)
    return random.Random().randrange(10_000, top, 10)


def free_net_id() -> int:
    """A bridge/subnet id no other cluster on this host uses (kl-br<ID>, 10.88.<ID>.0/24)."""
    rng = random.Random()
    for _ in range(50):
        candidate = rng.randrange(100, 250)
        if subprocess.run(["ip", "link", "show", f"kl-br{candidate}"], capture_output=True).returncode != 0:
            return candidate
    raise RuntimeError("no free kl-br<N> bridge id")

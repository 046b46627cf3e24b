"""Helpers for end-to-end tests on a whole local cluster (`kubelite up`) of real processes.

Each test module gets its own cluster in a temporary data directory, on ports
shifted by a random offset so runs never collide with a user's cluster or with
each other; teardown runs `kubelite down` and fails the run if anything the
cluster started is still alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kubelite.localcluster import load_state, plan_cluster, save_state
from kubelite.procs import is_same_process_alive, process_start_ticks, spawn_daemon

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


def processes_with_env(marker: str) -> list[int]:
    """Pids of live processes whose environment contains `marker` (e.g. the cluster dir)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                stat = (entry / "stat").read_text()
                if stat[stat.rfind(")") + 2] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


class LocalCluster:
    """Handle on a running `kubelite up` cluster."""

    def __init__(self, data_dir: Path, nodes: int, port_offset: int) -> None:
        self.data_dir = data_dir
        self.nodes = nodes
        self.port_offset = port_offset
        self.plan = plan_cluster(data_dir, nodes, port_offset)
        self.server = self.plan.server
        self.env = dict(os.environ, KUBELITE_SERVER=self.server, KUBELITE_CONFIG=str(data_dir / "config"))

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
        """SIGKILL one daemon (no chance to flush or say goodbye)."""
        _, procs = load_state(self.data_dir)
        proc = next(p for p in procs if p.name == name)
        os.kill(proc.pid, signal.SIGKILL)
        wait_for(lambda: not is_same_process_alive(proc.pid, proc.start_ticks) or _reap(proc.pid),
                 10, f"{name} to die")

    def restart_component(self, name: str) -> None:
        """Start a daemon again with the same flags and record it so `down` stops it."""
        comp = next(c for c in self.plan.components if c.name == name)
        popen = spawn_daemon(comp.argv, self.data_dir / "logs" / comp.log_name,
                             dict(os.environ, KUBELITE_CLUSTER_DIR=str(self.data_dir)))
        server, procs = load_state(self.data_dir)
        for proc in procs:
            if proc.name == name:
                proc.pid = popen.pid
                proc.start_ticks = process_start_ticks(popen.pid) or 0
        save_state(self.data_dir, server, procs)


def _reap(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return False

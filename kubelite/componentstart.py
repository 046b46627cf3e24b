"""Starting one component of a local cluster and waiting for it: what `up` and the supervisor share.

Why its own module: the supervisor lives as long as the cluster, and `kubelite.cluster`
(certificates, the API client, kubeconfig writing) would cost it tens of MB of imports
it never uses; this module needs only process and plan helpers.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable

from kubelite import cleanup
from kubelite.localcluster import ClusterPlan, Component, RunningProcess
from kubelite.procs import http_get_status, is_same_process_alive, process_start_ticks, spawn_daemon

Say = Callable[[str], None]


class UpError(Exception):
    """A cluster could not be brought up; the message says which part and why."""


def spawn_component(plan: ClusterPlan, comp: Component) -> subprocess.Popen[bytes]:
    """Spawn one daemon (inside its node's network namespace, if any), marked as this cluster's."""
    env = dict(os.environ, **{cleanup.CLUSTER_ENV: str(plan.data_dir)})
    prefix = ["nsenter", f"--net={comp.netns}", "--"] if comp.netns else None
    return spawn_daemon(comp.argv, plan.data_dir / "logs" / comp.log_name, env, prefix)


def start_component(plan: ClusterPlan, comp: Component) -> RunningProcess:
    """Spawn one daemon and record its identity."""
    popen = spawn_component(plan, comp)
    ticks = process_start_ticks(popen.pid)
    if ticks is None:
        raise UpError(f"{comp.name} exited immediately; see {plan.data_dir / 'logs' / comp.log_name}")
    return RunningProcess(comp.name, popen.pid, ticks, comp.health, comp.netns)


async def wait_component_ready(
    plan: ClusterPlan, comp: Component, started: list[RunningProcess], deadline: float, say: Say
) -> None:
    proc = next(p for p in started if p.name == comp.name)
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        if not is_same_process_alive(proc.pid, proc.start_ticks):
            raise UpError(f"{comp.name} exited during startup:\n{log_tail(plan, comp)}")
        if await http_get_status(comp.health, "/readyz", netns=comp.netns) == 200:
            say(f"  {comp.name:<24} ready ({time.monotonic() - t0:.1f}s)")
            return
        await asyncio.sleep(0.1)
    raise UpError(f"{comp.name} did not become ready in time:\n{log_tail(plan, comp)}")


def log_tail(plan: ClusterPlan, comp: Component, lines: int = 15) -> str:
    path = plan.data_dir / "logs" / comp.log_name
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"  (no log at {path})"
    return "\n".join(f"  | {line}" for line in text) + f"\n  full log: {path}"

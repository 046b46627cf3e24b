"""The CLI's side of the supervisor: start it for `up`, ask it things, show what it knows.

Why separate from `cluster.py`: `up`, `down`, `status` and `restart` all talk to the
supervisor the same way (its state file, its 0600 Unix socket, its pid); keeping that
here leaves `cluster.py` the orchestration of bringing a cluster up and down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kubelite import cleanup
from kubelite.localcluster import (
    ClusterPlan,
    RunningProcess,
    default_data_dir,
    load_extra,
    load_state,
    save_state,
)
from kubelite.procs import is_same_process_alive, process_start_ticks, spawn_daemon, stop_process

Say = Callable[[str], None]


def state_path(data_dir: Path) -> Path:
    """What the supervisor knows (`supervisor.json`), rewritten atomically on every change."""
    return data_dir / "supervisor.json"


def socket_path(data_dir: Path) -> Path:
    return data_dir / "supervisor.sock"


class SupervisorError(Exception):
    """The supervisor could not start the cluster or answer; the message says why."""


def spawn_supervisor(plan: ClusterPlan, timeout: float, grace: float = 10.0) -> RunningProcess:
    """Start `kubelite supervise` detached (it outlives `up`/`join`), recorded so `down` can stop it.

    The components go into the state file as they are (`up`, `init` and `join` plan them
    differently); the supervisor runs exactly that list, in that order."""
    state_path(plan.data_dir).unlink(missing_ok=True)
    server, procs = load_state(plan.data_dir)
    save_state(plan.data_dir, server, procs, components=[asdict(c) for c in plan.components])
    env = dict(os.environ, **{cleanup.CLUSTER_ENV: str(plan.data_dir)})
    popen = spawn_daemon(["supervise", "--data-dir", str(plan.data_dir), "--timeout", str(timeout),
                          "--grace", str(grace)], plan.data_dir / "logs" / "supervisor.log", env)
    proc = RunningProcess("supervisor", popen.pid, process_start_ticks(popen.pid) or 0, "")
    save_state(plan.data_dir, server, procs, supervisor=asdict(proc))
    return proc


def read_state(data_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(state_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_supervisor(data_dir: Path) -> RunningProcess | None:
    """The supervisor `up` recorded, if it is still that very process."""
    rec = load_extra(data_dir).get("supervisor")
    if not isinstance(rec, dict):
        return None
    proc = RunningProcess(**rec)
    return proc if is_same_process_alive(proc.pid, proc.start_ticks) else None


async def wait_ready(plan: ClusterPlan, sup: RunningProcess, deadline: float, say: Say) -> None:
    """Follow the supervisor's start-up: each component as it becomes Running, then its `ready`."""
    told: set[str] = set()
    while time.monotonic() < deadline:
        data = read_state(plan.data_dir)
        for name, comp in (data.get("components") or {}).items():
            if comp.get("state") == "Running" and name not in told:
                told.add(name)
                say(f"  {name:<24} started (pid {comp.get('pid')})")
        phase = str(data.get("phase", "starting"))
        if phase == "ready":
            say(f"  {'supervisor':<24} all {len(told)} components ready (pid {sup.pid})")
            return
        if phase.startswith("failed") or not is_same_process_alive(sup.pid, sup.start_ticks):
            raise SupervisorError(f"the supervisor could not start the cluster: {phase}\n{log_tail(plan.data_dir)}")
        await asyncio.sleep(0.1)
    tails = "\n".join(f"{name}:\n{log_tail(plan.data_dir, name, 10)}" for name in not_ready(plan)[:2])
    raise SupervisorError(f"the cluster did not become ready in time\n{log_tail(plan.data_dir)}\n{tails}")


def not_ready(plan: ClusterPlan) -> list[str]:
    """The components the supervisor has not reported ready (its log says `NAME ready (…s)`)."""
    path = plan.data_dir / "logs" / "supervisor.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return [c.name for c in plan.components if f'"detail": "{c.name} ' not in text
            or not re.search(rf'"detail": "{re.escape(c.name)} +ready', text)]


def log_tail(data_dir: Path, name: str = "supervisor", lines: int = 15) -> str:
    path = data_dir / "logs" / f"{name}.log"
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"  (no log at {path})"
    return "\n".join(f"  | {line}" for line in text) + f"\n  full log: {path}"


async def stop_supervisor(data_dir: Path, grace: float, say: Say) -> None:
    """SIGTERM the supervisor and wait while it stops every component in reverse order."""
    sup = recorded_supervisor(data_dir)
    if sup is None:
        return
    components = len(read_state(data_dir).get("components") or {}) or 10
    killed = await stop_process(sup.pid, sup.start_ticks, grace * components + 10)
    say(f"  {'supervisor':<24} {'killed' if killed else 'stopped its components and exited'}")


def status_lines(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Per component what the supervisor knows (state, restarts, last exit), {} without one."""
    comps = read_state(data_dir).get("components") or {}
    return comps if recorded_supervisor(data_dir) is not None else {}


def format_exit(comp: dict[str, Any]) -> str:
    if not comp.get("last_exit"):
        return "-"
    ago = time.time() - float(comp.get("last_exit_at") or time.time())
    return f"{comp['last_exit']} {ago:.0f}s ago"


def request(data_dir: Path, op: str, component: str | dict[str, Any], timeout: float = 60.0) -> str:
    """Ask the running supervisor (its socket) and return its one-line answer."""
    import socket

    path = socket_path(data_dir)
    if not path.exists() or recorded_supervisor(data_dir) is None:
        raise SupervisorError(f"no supervisor is running for {data_dir}; is the cluster up?")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            s.sendall(json.dumps({"op": op, "component": component}).encode() + b"\n")
            return s.makefile().readline().strip()
        except OSError as exc:
            raise SupervisorError(f"the supervisor did not answer: {exc}") from None


def main(argv: list[str]) -> int:
    """`kubelite restart COMPONENT`."""
    p = argparse.ArgumentParser(prog="kubelite restart", description="restart one component of the local cluster")
    p.add_argument("component", help="as `kubelite status` names it, e.g. scheduler or kubelet-node-1")
    p.add_argument("--data-dir", type=Path, default=None)
    args = p.parse_args(argv)
    data_dir = (args.data_dir or default_data_dir()).resolve()
    try:
        answer = request(data_dir, "restart", args.component)
    except SupervisorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(answer, file=sys.stdout if answer.startswith("ok") else sys.stderr)
    return 0 if answer.startswith("ok") else 1


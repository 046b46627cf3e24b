"""`kubelite up | down | status`: a whole cluster as separate processes on this machine.

`up` starts the daemons in dependency order (kvstore → apiserver → scheduler,
controller-manager, kubelets), waits for each one's `/readyz` and for every node
to report Ready, then writes the client config so `kctl` just works. `down`
stops them in reverse order (kubelets first, so they stop their pods) and checks
that nothing is left running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kubelite.localcluster import (
    ClusterPlan,
    Component,
    RunningProcess,
    default_config_path,
    default_data_dir,
    load_state,
    plan_cluster,
    save_state,
    state_file,
)
from kubelite.procs import (
    http_get_status,
    is_same_process_alive,
    process_start_ticks,
    spawn_daemon,
    stop_process,
)

Say = Callable[[str], None]


class UpError(Exception):
    """A cluster could not be brought up; the message says which part and why."""


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"kubelite {command}")
    p.add_argument("--data-dir", type=Path, default=None, help="cluster state, logs and node dirs")
    if command == "up":
        p.add_argument("--nodes", type=int, default=2, help="number of nodes (kubelets) to run")
        p.add_argument("--port-offset", type=int, default=0, help="added to every default port")
        p.add_argument("--runtime", default="process", choices=["process"], help="container runtime")
        p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the cluster")
        p.add_argument("--config-out", type=Path, default=None, help="where to write kctl's config")
        p.add_argument("-q", "--quiet", action="store_true")
    if command == "down":
        p.add_argument("--purge", action="store_true", help="also delete the data directory")
        p.add_argument("--grace", type=float, default=30.0, help="seconds each daemon gets to stop")
    return p


def main(command: str, argv: list[str]) -> int:
    args = _parser(command).parse_args(argv)
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    try:
        if command == "up":
            if args.nodes < 1:
                raise UpError("--nodes must be at least 1")
            plan = plan_cluster(data_dir, args.nodes, args.port_offset, args.runtime)
            return asyncio.run(_up(plan, args.timeout, args.config_out or default_config_path(), args.quiet))
        if command == "down":
            return asyncio.run(_down(data_dir, args.grace, args.purge))
        return asyncio.run(_status(data_dir))
    except UpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run `kubelite down` to stop what was started", file=sys.stderr)
        return 130


def _alive(processes: list[RunningProcess]) -> list[RunningProcess]:
    return [p for p in processes if is_same_process_alive(p.pid, p.start_ticks)]


async def _up(plan: ClusterPlan, timeout: float, config_out: Path, quiet: bool) -> int:
    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    if state_file(plan.data_dir).exists():
        _, old = load_state(plan.data_dir)
        if _alive(old):
            raise UpError(f"a cluster is already running from {plan.data_dir}; run `kubelite down` first")
    (plan.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    started: list[RunningProcess] = []
    deadline = time.monotonic() + timeout
    say(f"Starting kubelite ({plan.nodes} node(s), data in {plan.data_dir})")
    try:
        stages = [plan.components[:1], plan.components[1:2], plan.components[2:]]
        for stage in stages:
            for comp in stage:
                started.append(_start(plan, comp))
            save_state(plan.data_dir, plan.server, started)
            await asyncio.gather(*(_wait_ready(plan, c, started, deadline, say) for c in stage))
        await _wait_nodes_ready(plan, deadline, say)
    except BaseException:
        say("startup failed; stopping what was started")
        for proc in reversed(started):
            await stop_process(proc.pid, proc.start_ticks, 10.0)
        state_file(plan.data_dir).unlink(missing_ok=True)
        raise
    config_out.parent.mkdir(parents=True, exist_ok=True)
    config_out.write_text(f"server: {plan.server}\n")
    say(
        f"\nkubelite is up: apiserver at {plan.server}, nodes {', '.join(plan.node_names)}\n"
        f"kctl config written to {config_out}\n\n"
        "Try:\n"
        "  kctl get nodes\n"
        "  kctl apply -f examples/\n"
        "  kctl get pods -o wide\n"
        f"Logs: {plan.data_dir / 'logs'}   Stop: kubelite down"
        + ("" if plan.data_dir == default_data_dir().resolve() else f" --data-dir {plan.data_dir}")
    )
    return 0


def _start(plan: ClusterPlan, comp: Component) -> RunningProcess:
    env = dict(os.environ, KUBELITE_CLUSTER_DIR=str(plan.data_dir))
    popen = spawn_daemon(comp.argv, plan.data_dir / "logs" / comp.log_name, env)
    ticks = process_start_ticks(popen.pid)
    if ticks is None:
        raise UpError(f"{comp.name} exited immediately; see {plan.data_dir / 'logs' / comp.log_name}")
    return RunningProcess(comp.name, popen.pid, ticks, comp.health)


async def _wait_ready(
    plan: ClusterPlan, comp: Component, started: list[RunningProcess], deadline: float, say: Say
) -> None:
    proc = next(p for p in started if p.name == comp.name)
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        if not is_same_process_alive(proc.pid, proc.start_ticks):
            raise UpError(f"{comp.name} exited during startup:\n{_log_tail(plan, comp)}")
        if await http_get_status(comp.health, "/readyz") == 200:
            say(f"  {comp.name:<24} ready ({time.monotonic() - t0:.1f}s)")
            return
        await asyncio.sleep(0.1)
    raise UpError(f"{comp.name} did not become ready in time:\n{_log_tail(plan, comp)}")


async def _wait_nodes_ready(plan: ClusterPlan, deadline: float, say: Say) -> None:
    from api import Node
    from api.errors import ApiError
    from client import ApiClient

    client = ApiClient.connect(plan.server)
    last_report = ""
    try:
        while time.monotonic() < deadline:
            try:
                nodes = (await client.list(Node)).items
            except ApiError:
                nodes = []
            ready = sorted(
                n.metadata.name or ""
                for n in nodes
                if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)
            )
            report = f"  nodes Ready: {len(ready)}/{plan.nodes}"
            if report != last_report:
                say(report)
                last_report = report
            if set(plan.node_names) <= set(ready):
                return
            await asyncio.sleep(0.2)
    finally:
        await client.close()
    raise UpError("nodes did not become Ready in time; see the kubelet logs in " + str(plan.data_dir / "logs"))


def _log_tail(plan: ClusterPlan, comp: Component, lines: int = 15) -> str:
    path = plan.data_dir / "logs" / comp.log_name
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"  (no log at {path})"
    return "\n".join(f"  | {line}" for line in text) + f"\n  full log: {path}"


async def _down(data_dir: Path, grace: float, purge: bool) -> int:
    if not state_file(data_dir).exists():
        print(f"no cluster state in {data_dir}; nothing to stop")
        if purge:
            shutil.rmtree(data_dir, ignore_errors=True)
        return 0
    _, processes = load_state(data_dir)
    # Kubelets first (they stop their pods), then the control plane, storage last.
    for proc in reversed(processes):
        killed = await stop_process(proc.pid, proc.start_ticks, grace)
        print(f"  {proc.name:<24} {'killed' if killed else 'stopped'}")
    left = _alive(processes)
    if left:
        print("error: still running: " + ", ".join(f"{p.name} (pid {p.pid})" for p in left), file=sys.stderr)
        return 1
    state_file(data_dir).unlink(missing_ok=True)
    if purge:
        shutil.rmtree(data_dir, ignore_errors=True)
    print("kubelite is down")
    return 0


async def _status(data_dir: Path) -> int:
    if not state_file(data_dir).exists():
        print(f"no cluster in {data_dir}")
        return 1
    server, processes = load_state(data_dir)
    print(f"apiserver: {server}")
    print(f"{'COMPONENT':<26}{'PID':<9}{'PROCESS':<10}HEALTH")
    healthy = True
    for proc in processes:
        alive = is_same_process_alive(proc.pid, proc.start_ticks)
        code = await http_get_status(proc.health, "/readyz") if alive else None
        health = "ready" if code == 200 else ("not ready" if code else "unreachable")
        healthy = healthy and alive and code == 200
        print(f"{proc.name:<26}{proc.pid:<9}{'running' if alive else 'exited':<10}{health}")
    return 0 if healthy else 1

"""`kubelite supervise --data-dir D`: the one parent of a local cluster's daemons.

Why a supervisor: a daemon that dies (OOM, a bug, `kill -9`) must come back without
a human, and `down` must be able to stop everything including what was restarted.
`up`/`init` start this process detached; it starts the components of the cluster's
plan in order with the same readiness waits `up` used, restarts any that exits as
`supervisorplan.restart_plan` decides (back-off, crash loop), records what it knows
in `supervisor.json` (read by `kubelite status`) and the pids in `cluster.json` (read
by `down` and the tests), answers `restart`/`stop` requests on a 0600 Unix socket,
and on SIGTERM stops everything in reverse order (SIGTERM, grace, SIGKILL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from kubelite import supervisorplan as sp
from kubelite.componentstart import UpError, spawn_component, wait_component_ready
from kubelite.daemon.logs import setup_logging
from kubelite.localcluster import ClusterPlan, Component, RunningProcess, load_extra, load_state, save_state
from kubelite.procs import process_start_ticks, stop_process
from kubelite.supervisecli import socket_path, state_path

log = logging.getLogger("kubelite.supervisor")
IDLE_POLL_SECONDS = 5.0  # the longest the loop sleeps: a safety net, exits wake it through SIGCHLD


def exit_reason(returncode: int) -> str:
    """Popen's return code as a person reads it: a negative one is the signal that ended it."""
    if returncode < 0:
        try:
            return f"signal {-returncode} ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


class ProcessIO(Protocol):
    """The supervisor's only contact with real processes (a fake in unit tests)."""

    def start(self, comp: Component) -> RunningProcess: ...
    def poll(self, name: str) -> str | None: ...  # the exit reason once it has exited, else None
    async def stop(self, name: str, grace: float, sig: int = signal.SIGTERM) -> None: ...


class ChildProcesses:
    """Daemons as children of this process: exit codes come from `Popen.poll` (no pid reuse races)."""

    def __init__(self, plan: ClusterPlan) -> None:
        self.plan = plan
        self.children: dict[str, tuple[subprocess.Popen[bytes], RunningProcess]] = {}

    def start(self, comp: Component) -> RunningProcess:
        popen = spawn_component(self.plan, comp)
        proc = RunningProcess(comp.name, popen.pid, process_start_ticks(popen.pid) or 0, comp.health, comp.netns)
        self.children[comp.name] = (popen, proc)
        return proc

    def poll(self, name: str) -> str | None:
        if name not in self.children:
            return None
        code = self.children[name][0].poll()
        return None if code is None else exit_reason(code)

    async def stop(self, name: str, grace: float, sig: int = signal.SIGTERM) -> None:
        if name not in self.children:
            return
        popen, proc = self.children[name]
        if sig == signal.SIGKILL:
            if popen.poll() is None:
                popen.kill()
            await asyncio.to_thread(popen.wait)
            return
        await stop_process(proc.pid, proc.start_ticks, grace)
        popen.poll()


class Supervisor:
    """Executes the restart plan for every component of `plan`."""

    def __init__(self, plan: ClusterPlan, io: ProcessIO, grace: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.plan = plan
        self.io = io
        self.grace = grace
        self.states: dict[str, sp.ComponentState] = {c.name: sp.ComponentState() for c in plan.components}
        self.procs: dict[str, RunningProcess] = {}
        self.phase = "starting"
        self.stopping = asyncio.Event()

    def _comp(self, name: str) -> Component:
        return next(c for c in self.plan.components if c.name == name)

    def _start(self, comp: Component) -> None:
        self.procs[comp.name] = self.io.start(comp)
        self.states[comp.name] = sp.restart_plan(self.states[comp.name], sp.Started(), self.clock())
        log.info("component started", extra={"daemon": comp.name, "pid": self.procs[comp.name].pid,
                                              "restarts": self.states[comp.name].restarts})
        self.save()

    async def start_all(self, timeout: float) -> None:
        """Storage (all members at once: they need a quorum), the apiserver, then the rest, each
        stage ready before the next, as `up` always did."""
        comps = self.plan.components
        kv = sum(c.name.startswith("kvstore") for c in comps)
        deadline = time.monotonic() + timeout
        for stage in (comps[:kv], comps[kv:kv + 1], comps[kv + 1:]):
            for comp in stage:
                self._start(comp)
            started = list(self.procs.values())
            await asyncio.gather(*(wait_component_ready(self.plan, c, started, deadline, self._say) for c in stage))
        self.phase = "ready"
        self.save()

    def _say(self, msg: str) -> None:
        log.info("startup", extra={"detail": msg.strip()})

    def next_tick_in(self) -> float:
        """Seconds until the next pass is needed without an exit: the earliest due restart, at
        most IDLE_POLL_SECONDS. (Exits wake the loop through SIGCHLD: polling every child five
        times a second was most of an idle supervisor's wake-ups.)"""
        now = self.clock()
        due = [s.restart_at - now for s in self.states.values() if s.restart_at is not None and s.state != sp.STOPPED]
        return max(0.0, min([IDLE_POLL_SECONDS, *due]))

    def tick(self) -> None:
        """Notice exits and start what is due; called on every SIGCHLD and when `next_tick_in` passed."""
        now = self.clock()
        for name, state in list(self.states.items()):
            reason = self.io.poll(name) if name in self.procs else None
            if reason is not None and state.started_at is not None:
                state = sp.restart_plan(state, sp.Exited(reason), now)
                self.states[name] = state
                level = logging.ERROR if state.state == sp.CRASHLOOP else logging.WARNING
                log.log(level, "component exited", extra={
                    "daemon": name, "reason": reason, "restarts": state.restarts,
                    "state": state.state, "restart_in": round((state.restart_at or now) - now, 1)})
                self.save()
            if sp.due(state, now):
                self._start(self._comp(name))

    async def request(self, op: str, name: str) -> str:
        """`restart` (now, clearing any stop and back-off), `stop` (SIGTERM) or `kill` (SIGKILL), both
        kept down until a `restart`: what tests that simulate a dead node need."""
        if name not in self.states:
            return f"error: no component {name!r} (have: {', '.join(self.states)})"
        if op not in ("restart", "stop", "kill"):
            return f"error: unknown operation {op!r}"
        log.info("request", extra={"op": op, "daemon": name})
        self.states[name] = sp.restart_plan(self.states[name], sp.StopRequested(), self.clock())
        await self.io.stop(name, self.grace, signal.SIGKILL if op == "kill" else signal.SIGTERM)
        reason = self.io.poll(name)
        self.states[name] = sp.restart_plan(self.states[name], sp.Exited(reason or "stopped"), self.clock())
        if op == "restart":
            self.states[name] = sp.restart_plan(self.states[name], sp.RestartRequested(), self.clock())
            self._start(self._comp(name))
        self.save()
        return f"ok: {name} {op}ed" if op != "stop" else f"ok: {name} stopped"

    def add(self, comp: Component) -> str:
        """`kubelite add-node`: one more component (a node's kubelet or proxy), supervised from now on."""
        if comp.name in self.states:
            return f"error: {comp.name} is already supervised"
        log.info("request", extra={"op": "add", "daemon": comp.name})
        self.plan.components.append(comp)
        self.states[comp.name] = sp.ComponentState()
        self._start(comp)
        return f"ok: {comp.name} added"

    async def stop_all(self) -> None:
        """Reverse start order, each SIGTERM then SIGKILL after the grace: restarted ones included."""
        self.phase = "stopping"
        self.save()
        for comp in reversed(self.plan.components):
            self.states[comp.name] = sp.restart_plan(self.states[comp.name], sp.StopRequested(), self.clock())
            await self.io.stop(comp.name, self.grace)
            log.info("component stopped", extra={"daemon": comp.name})
        self.phase = "stopped"
        self.save()

    def save(self) -> None:
        """supervisor.json for `status`; the pids into cluster.json for `down` (atomic writes)."""
        comps = {}
        for name, st in self.states.items():
            proc = self.procs.get(name)
            comps[name] = {**asdict(st), "pid": proc.pid if proc else None, "recent_exits": list(st.recent_exits)}
        path = state_path(self.plan.data_dir)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "phase": self.phase, "components": comps}, indent=2))
        os.replace(tmp, path)
        server, procs = load_state(self.plan.data_dir)
        others = [p for p in procs if p.name not in self.states]
        save_state(self.plan.data_dir, server, others + list(self.procs.values()),
                   components=[asdict(c) for c in self.plan.components])


async def _serve(sup: Supervisor, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One JSON request per connection: {"op": "restart", "component": "scheduler"} -> one line."""
    try:
        req = json.loads(await asyncio.wait_for(reader.readline(), 5))
        if req.get("op") == "add":
            answer = sup.add(Component(**req["component"]))
        else:
            answer = await sup.request(str(req.get("op")), str(req.get("component")))
    except (ValueError, AttributeError, TimeoutError, TypeError, KeyError) as exc:
        answer = f"error: bad request ({exc})"
    writer.write(answer.encode() + b"\n")
    await writer.drain()
    writer.close()


async def run(data_dir: Path, timeout: float, grace: float) -> int:
    comps = [Component(**c) for c in load_extra(data_dir).get("components") or []]
    if not comps:
        setup_failed = {"pid": os.getpid(), "phase": f"failed: no components recorded in {data_dir}", "components": {}}
        state_path(data_dir).write_text(json.dumps(setup_failed))
        log.error("no components to supervise", extra={"data_dir": str(data_dir)})
        return 1
    plan = ClusterPlan(data_dir=data_dir, nodes=sum(c.name.startswith("kubelet-") for c in comps), components=comps)
    sup = Supervisor(plan, ChildProcesses(plan), grace)
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()  # a child exited, or we are asked to stop

    def stop() -> None:
        sup.stopping.set()
        wake.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    loop.add_signal_handler(signal.SIGCHLD, wake.set)
    sock = socket_path(data_dir)
    sock.unlink(missing_ok=True)
    old = os.umask(0o177)  # the socket is created 0600: only the cluster's owner may ask for restarts
    try:
        server = await asyncio.start_unix_server(lambda r, w: _serve(sup, r, w), path=str(sock))
    finally:
        os.umask(old)
    code = 0
    try:
        starting = asyncio.ensure_future(sup.start_all(timeout))
        stop_wait = asyncio.ensure_future(sup.stopping.wait())
        await asyncio.wait([starting, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        if starting.done() and starting.exception() is None:
            log.info("all components ready", extra={"components": len(sup.states)})
            while not sup.stopping.is_set():
                wake.clear()  # before the pass: an exit during it wakes the next wait at once
                sup.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), sup.next_tick_in())
        elif starting.done():
            exc = starting.exception()
            sup.phase = f"failed: {exc}" if isinstance(exc, UpError) else f"failed: {exc!r}"
            log.error("startup failed", extra={"error": str(exc)})
            code = 1
        else:
            starting.cancel()
        stop_wait.cancel()
    finally:
        server.close()
        failed = sup.phase if sup.phase.startswith("failed") else ""
        await sup.stop_all()
        if failed:
            sup.phase = failed
            sup.save()
        sock.unlink(missing_ok=True)
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kubelite supervise")
    p.add_argument("--data-dir", type=Path, required=True, help="the cluster `kubelite up` prepared")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds for every component to become ready")
    p.add_argument("--grace", type=float, default=10.0, help="seconds each daemon gets to stop")
    args = p.parse_args(argv)
    setup_logging("supervisor")
    return asyncio.run(run(args.data_dir.resolve(), args.timeout, args.grace))

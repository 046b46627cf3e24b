"""The supervisor's executor against a fake process table and a fake clock: it restarts on the plan's
schedule, records what `status` shows, holds a stopped component down and stops restarted ones too."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from kubelite.localcluster import ClusterPlan, Component, RunningProcess, save_state
from kubelite.supervisecli import state_path
from kubelite.supervisor import Supervisor, exit_reason


class FakeProcesses:
    def __init__(self) -> None:
        self.next_pid = 100
        self.exits: dict[str, str | None] = {}
        self.pids: dict[str, int] = {}
        self.stopped: list[str] = []

    def start(self, comp: Component) -> RunningProcess:
        self.next_pid += 1
        self.pids[comp.name] = self.next_pid
        self.exits[comp.name] = None
        return RunningProcess(comp.name, self.next_pid, 1, comp.health)

    def poll(self, name: str) -> str | None:
        return self.exits.get(name)

    async def stop(self, name: str, grace: float, sig: int = signal.SIGTERM) -> None:
        self.stopped.append(name)
        self.exits[name] = exit_reason(-sig)


def make(tmp_path: Path) -> tuple[Supervisor, FakeProcesses, list[float]]:
    save_state(tmp_path, "s:1", [])
    plan = ClusterPlan(tmp_path, 1, components=[Component("apiserver", [], "h:1"), Component("scheduler", [], "h:2")])
    now = [1000.0]
    io = FakeProcesses()
    sup = Supervisor(plan, io, clock=lambda: now[0])
    for comp in plan.components:
        sup._start(comp)
    return sup, io, now


def recorded(tmp_path: Path, name: str) -> dict[str, object]:
    return dict(json.loads(state_path(tmp_path).read_text())["components"][name])


def test_exit_is_restarted_after_the_backoff_and_recorded(tmp_path: Path) -> None:
    sup, io, now = make(tmp_path)
    io.exits["scheduler"] = exit_reason(-9)
    sup.tick()
    assert recorded(tmp_path, "scheduler")["state"] == "BackOff" and io.pids["scheduler"] == 102
    now[0] += 0.5
    sup.tick()
    assert io.pids["scheduler"] == 102  # not yet: 1 s back-off
    now[0] += 0.6
    sup.tick()
    rec = recorded(tmp_path, "scheduler")
    assert io.pids["scheduler"] == 103 and rec["pid"] == 103 and rec["restarts"] == 1
    assert rec["state"] == "Running" and rec["last_exit"] == "signal 9 (SIGKILL)"
    cluster = json.loads((tmp_path / "cluster.json").read_text())
    assert {p["name"]: p["pid"] for p in cluster["processes"]} == {"apiserver": 101, "scheduler": 103}


def test_crash_loop_is_reported(tmp_path: Path) -> None:
    sup, io, now = make(tmp_path)
    for _ in range(6):  # dies right after each restart: 6 exits within 1+2+4+8+16 s
        io.exits["apiserver"] = "exit code 1"
        sup.tick()
        now[0] += sup.states["apiserver"].backoff
        if _ < 5:
            sup.tick()
    rec = recorded(tmp_path, "apiserver")
    assert rec["state"] == "CrashLoop" and rec["restarts"] == 6 and rec["last_exit"] == "exit code 1"


def test_kill_holds_it_down_and_restart_brings_it_back(tmp_path: Path) -> None:
    sup, io, now = make(tmp_path)
    assert asyncio.run(sup.request("kill", "scheduler")).startswith("ok")
    now[0] += 100
    sup.tick()
    assert io.pids["scheduler"] == 102 and recorded(tmp_path, "scheduler")["state"] == "Stopped"
    assert asyncio.run(sup.request("restart", "scheduler")).startswith("ok")
    assert io.pids["scheduler"] == 103 and recorded(tmp_path, "scheduler")["state"] == "Running"
    assert "no component" in asyncio.run(sup.request("restart", "nope"))


def test_stop_all_goes_in_reverse_order_including_restarted(tmp_path: Path) -> None:
    sup, io, now = make(tmp_path)
    io.exits["apiserver"] = "exit code 2"
    sup.tick()
    now[0] += 2
    sup.tick()
    asyncio.run(sup.stop_all())
    assert io.stopped == ["scheduler", "apiserver"]
    assert json.loads(state_path(tmp_path).read_text())["phase"] == "stopped"

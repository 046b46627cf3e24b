"""The event loop a daemon runs on: uvloop unless it starts processes, the standard loop on request."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from kubelite.daemon import eventloop
from kubelite.daemon.lifecycle import run_daemon


def loop_module_of_a_daemon(spawns_processes: bool) -> str:
    seen: list[str] = []

    async def main(stop: asyncio.Event) -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    assert run_daemon(main, spawns_processes=spawns_processes) == 0
    return seen[0]


def test_a_daemon_runs_on_uvloop_and_one_that_starts_processes_on_the_standard_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert loop_module_of_a_daemon(spawns_processes=False).startswith("uvloop")
    assert loop_module_of_a_daemon(spawns_processes=True).startswith("asyncio")


def test_the_environment_puts_every_daemon_on_the_standard_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "asyncio")
    assert loop_module_of_a_daemon(spawns_processes=False).startswith("asyncio")
    monkeypatch.setenv(eventloop.ENV, "bogus")  # warned about, then the default
    assert eventloop.choose(spawns_processes=False) == eventloop.UVLOOP


def test_without_uvloop_a_daemon_falls_back_to_the_standard_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert eventloop.choose(spawns_processes=False) == eventloop.STANDARD
    assert loop_module_of_a_daemon(spawns_processes=False).startswith("asyncio")


def test_a_process_starting_daemons_loop_sees_a_daemonized_childs_pipes_close() -> None:
    """Why the kubelet, proxy and ingress controller keep the standard loop: a child that detaches
    (as nginx and conmon do) must not keep the pipes its parent reads. On uvloop it did, and
    `communicate()` waited for the detached grandchild (here: 3 s)."""

    async def detach() -> float:
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", "exec >/dev/null 2>&1; sleep 3 &",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        started = time.monotonic()
        await proc.communicate()
        return time.monotonic() - started

    choice = eventloop.choose(spawns_processes=True)
    with asyncio.Runner(loop_factory=eventloop.loop_factory(choice)) as runner:
        assert runner.run(detach()) < 2.0

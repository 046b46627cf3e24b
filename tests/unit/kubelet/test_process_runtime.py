"""The process runtime runs real host processes: logs, exit codes, stop escalation."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kubelet.crilog import parse_line
from kubelet.process_runtime import ProcessRuntime
from kubelet.runtime import (
    ContainerConfig,
    ContainerState,
    CreateContainerError,
    PodSandboxConfig,
    StartContainerError,
)
from kubelite.procs import is_alive


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)




@pytest.fixture
async def runtime() -> AsyncIterator[ProcessRuntime]:
    rt = ProcessRuntime()
    await rt.start()
    yield rt
    await rt.shutdown(0)


async def sandbox(rt: ProcessRuntime, tmp_path: Path) -> str:
    return await rt.run_pod_sandbox(
        PodSandboxConfig("p", "default", "uid-1", tmp_path / "logs", tmp_path / "work", hostname="p")
    )


async def run(rt: ProcessRuntime, sid: str, script: str, **kw: object) -> str:
    config = ContainerConfig(name="c", image="busybox", command=["sh", "-c", script], log_path="c/0.log", **kw)  # type: ignore[arg-type]
    cid = await rt.create_container(sid, config)
    await rt.start_container(cid)
    return cid


async def wait_exit(rt: ProcessRuntime, cid: str) -> None:
    deadline = time.monotonic() + 10
    while (await rt.container_status(cid)).state is not ContainerState.EXITED:
        assert time.monotonic() < deadline, "container did not exit"
        await asyncio.sleep(0.02)


async def test_logs_are_written_in_cri_format_and_exit_code_is_reported(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, "echo out-line; echo err-line >&2; printf partial; exit 3")
    await wait_exit(runtime, cid)
    status = await runtime.container_status(cid)
    assert status.exit_code == 3 and status.reason == "Error"
    assert status.uri == f"process://{status.pid}"
    assert status.started_at is not None and status.finished_at is not None
    lines = (tmp_path / "logs" / "c" / "0.log").read_bytes().splitlines()
    entries = [parse_line(line) for line in lines]
    assert all(e is not None for e in entries)
    got = {(e.stream, e.content) for e in entries if e}
    assert got == {(b"stdout", b"out-line"), (b"stderr", b"err-line"), (b"stdout", b"partial")}
    assert lines[0][:4].isdigit() and b"Z stdout F out-line" in b"\n".join(lines)


async def test_success_is_completed(runtime: ProcessRuntime, tmp_path: Path) -> None:
    cid = await run(runtime, await sandbox(runtime, tmp_path), "true")
    await wait_exit(runtime, cid)
    status = await runtime.container_status(cid)
    assert (status.exit_code, status.reason) == (0, "Completed")


async def test_exit_listener_and_signal_exit_code(runtime: ProcessRuntime, tmp_path: Path) -> None:
    seen: list[int | None] = []
    runtime.add_exit_listener(lambda s: seen.append(s.exit_code))
    cid = await run(runtime, await sandbox(runtime, tmp_path), "sleep 30")
    status = await runtime.container_status(cid)
    os.killpg(status.pid, 9)  # each container leads its own process group
    await until(lambda: seen == [137])
    assert (await runtime.container_status(cid)).reason == "Error"


async def test_stop_escalates_to_sigkill_when_term_is_trapped(runtime: ProcessRuntime, tmp_path: Path) -> None:
    script = "trap 'echo got-term' TERM; echo trapped; while true; do sleep 0.05; done"
    cid = await run(runtime, await sandbox(runtime, tmp_path), script)
    status = await runtime.container_status(cid)
    logfile = tmp_path / "logs" / "c" / "0.log"
    await until(lambda: b"trapped" in logfile.read_bytes())
    t0 = time.monotonic()
    await runtime.stop_container(cid, timeout=0.5)
    assert time.monotonic() - t0 >= 0.45
    final = await runtime.container_status(cid)
    assert final.state is ContainerState.EXITED and final.exit_code == 137
    assert not is_alive(status.pid)
    assert b"got-term" in logfile.read_bytes()


async def test_stop_is_graceful_when_process_obeys_term(runtime: ProcessRuntime, tmp_path: Path) -> None:
    cid = await run(runtime, await sandbox(runtime, tmp_path), "exec sleep 30")
    t0 = time.monotonic()
    await runtime.stop_container(cid, timeout=10)
    assert time.monotonic() - t0 < 5
    assert (await runtime.container_status(cid)).exit_code == 128 + 15


async def test_leftover_group_members_die_with_the_main_process(runtime: ProcessRuntime, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    cid = await run(runtime, await sandbox(runtime, tmp_path), f"sleep 30 & echo $! > {pidfile}; sleep 0.1; exit 0")
    await wait_exit(runtime, cid)
    child = int(pidfile.read_text())
    await until(lambda: not is_alive(child))


async def test_env_cwd_and_hostname(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, "echo $GREETING $HOSTNAME; pwd", env={"GREETING": "hi"})
    await wait_exit(runtime, cid)
    text = (tmp_path / "logs" / "c" / "0.log").read_text()
    assert "hi p" in text and str(tmp_path / "work") in text


async def test_empty_command_is_a_create_error(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    with pytest.raises(CreateContainerError, match="no command"):
        await runtime.create_container(sid, ContainerConfig(name="c", image="x", command=[], log_path="c/0.log"))


async def test_missing_executable_is_a_start_error(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await runtime.create_container(
        sid, ContainerConfig(name="c", image="x", command=["no-such-binary-xyz"], log_path="c/0.log")
    )
    with pytest.raises(StartContainerError, match="no-such-binary-xyz"):
        await runtime.start_container(cid)
    status = await runtime.container_status(cid)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 128, "StartError")


async def test_remove_sandbox_kills_and_cleans_up(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, "sleep 30")
    pid = (await runtime.container_status(cid)).pid
    await runtime.remove_pod_sandbox(sid)
    assert not is_alive(pid)
    assert await runtime.list_containers() == []
    assert not (tmp_path / "logs").exists() and not (tmp_path / "work").exists()


async def test_command_and_args_are_joined(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    config = ContainerConfig(name="c", image="x", command=["sh", "-c"], args=["echo joined-$0", "zero"],
                             log_path="c/0.log")
    cid = await runtime.create_container(sid, config)
    await runtime.start_container(cid)
    await wait_exit(runtime, cid)
    assert "joined-zero" in (tmp_path / "logs" / "c" / "0.log").read_text()


async def test_exec_sync_output_exit_code_env_and_timeout(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, "sleep 30", env={"GREETING": "hello"})
    result = await runtime.exec_sync(cid, ["sh", "-c", "echo $GREETING; echo oops >&2; exit 4"], 10)
    assert (result.exit_code, result.stdout, result.stderr) == (4, b"hello\n", b"oops\n")
    with pytest.raises(TimeoutError):
        await runtime.exec_sync(cid, ["sleep", "30"], 0.2)


async def test_exec_stream_relays_stdin(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, "sleep 30")
    session = await runtime.exec_stream(cid, ["sh", "-c", "read x; echo got-$x; exit 2"], tty=False)
    await session.write_stdin(b"abc\n")
    out = b"".join([chunk async for fd, chunk in session.output() if fd == 1])
    assert out == b"got-abc\n" and await session.wait() == 2


async def test_exec_stream_with_tty(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, "sleep 30")
    session = await runtime.exec_stream(cid, ["sh", "-c", "test -t 0 && echo is-a-tty"], tty=True)
    out = b"".join([chunk async for _, chunk in session.output()])
    assert b"is-a-tty" in out and await session.wait() == 0


async def test_sandbox_status_reports_host_ip(tmp_path: Path) -> None:
    rt = ProcessRuntime(host_ip="10.88.0.11")
    await rt.start()
    try:
        sid = await sandbox(rt, tmp_path)
        status = await rt.pod_sandbox_status(sid)
        assert (status.ip, status.ready, status.name, status.uid) == ("10.88.0.11", True, "p", "uid-1")
        assert [s.id for s in await rt.list_pod_sandboxes()] == [sid]
        await rt.stop_pod_sandbox(sid)
        assert not (await rt.pod_sandbox_status(sid)).ready
    finally:
        await rt.shutdown(0)


def test_security_the_process_runtime_cannot_enforce_is_named() -> None:
    from kubelet.process_runtime import unenforceable
    from kubelet.runtime import Security

    assert unenforceable(Security()) == []
    assert unenforceable(Security(seccomp="Unconfined", privileged=True)) == []
    assert unenforceable(Security(run_as_user=os.geteuid() + 1, read_only_root_fs=True, cap_drop=["ALL"],
                                  allow_privilege_escalation=False)) == [
        "runAsUser", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "capabilities"]

"""Probe handlers against real sockets, and the timing/threshold rules of
ContainerProbes with a fake runtime (exec results under the test's control)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kubelet.probes import ContainerProbes, http_get, run_probe, tcp_socket
from kubelet.runtime import ExecResult
from kubelite.api import Container


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def http_server() -> AsyncIterator[tuple[int, dict[str, int]]]:
    """Answers GET /ok with 200, /moved with 301, anything else with 500."""
    state = {"hits": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        state["hits"] += 1
        path = line.split()[1].decode() if len(line.split()) > 1 else "/"
        code = {"/ok": "200 OK", "/moved": "301 Moved"}.get(path, "500 Oops")
        writer.write(f"HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, state
    finally:
        server.close()
        await server.wait_closed()


async def test_http_and_tcp_handlers(http_server: tuple[int, dict[str, int]]) -> None:
    port, _ = http_server
    assert (await http_get("127.0.0.1", port, "/ok", "HTTP", [], 1.0)).ok
    assert (await http_get("127.0.0.1", port, "/moved", "HTTP", [], 1.0)).ok
    bad = await http_get("127.0.0.1", port, "/fail", "HTTP", [], 1.0)
    assert not bad.ok and "statuscode: 500" in bad.message
    assert (await tcp_socket("127.0.0.1", port, 1.0)).ok
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    free = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    refused = await tcp_socket("127.0.0.1", free, 1.0)
    assert not refused.ok and "dial tcp" in refused.message


class FakeRuntime:
    """Only exec_sync matters to probes; `results` decides each exec's exit code."""

    isolated = True

    def __init__(self) -> None:
        self.exit_code = 0
        self.calls = 0

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        self.calls += 1
        return ExecResult(self.exit_code, b"", b"probe says no" if self.exit_code else b"")


def container(**probes: Any) -> Container:
    return Container.from_dict({"name": "app", "image": "i", "ports": [{"name": "web", "containerPort": 80}],
                                **probes})


def exec_probe(**timing: int) -> dict[str, Any]:
    return {"exec": {"command": ["check"]}, "periodSeconds": 1, **timing}


async def with_probes(c: Container, runtime: FakeRuntime,
                      body: Callable[[ContainerProbes, list[tuple[str, str]], list[str]], Awaitable[None]]) -> None:
    events: list[tuple[str, str]] = []
    kills: list[str] = []
    probes = ContainerProbes(runtime, "cid", c, "127.0.0.1",  # type: ignore[arg-type]
                             on_change=lambda: None, on_event=lambda _t, reason, msg: events.append((reason, msg)),
                             on_kill=lambda kind, _msg: kills.append(kind))
    probes.start()
    try:
        await body(probes, events, kills)
    finally:
        await probes.stop()


async def test_readiness_follows_the_probe() -> None:
    rt = FakeRuntime()

    async def body(probes: ContainerProbes, events: list[tuple[str, str]], kills: list[str]) -> None:
        await eventually(probes.is_ready, "ready")
        rt.exit_code = 1
        await eventually(lambda: not probes.is_ready(), "unready after a failure")
        assert ("Unhealthy", "Readiness probe failed: probe says no") in events
        assert not kills, "readiness failures never kill"

    await with_probes(container(readinessProbe=exec_probe(failureThreshold=1)), rt, body)


async def test_liveness_kills_after_failure_threshold() -> None:
    rt = FakeRuntime()
    rt.exit_code = 1

    async def body(probes: ContainerProbes, events: list[tuple[str, str]], kills: list[str]) -> None:
        await eventually(lambda: kills == ["Liveness"], "a liveness kill")
        assert rt.calls == 2 and len([e for e in events if e[0] == "Unhealthy"]) == 2
        assert probes.is_ready(), "no readiness probe: ready once started"

    await with_probes(container(livenessProbe=exec_probe(failureThreshold=2)), rt, body)


async def test_startup_gates_liveness_and_readiness() -> None:
    rt = FakeRuntime()
    rt.exit_code = 1
    c = container(startupProbe=exec_probe(failureThreshold=30),
                  livenessProbe={"httpGet": {"port": "web", "path": "/"}, "periodSeconds": 1},
                  readinessProbe=exec_probe())

    async def body(probes: ContainerProbes, events: list[tuple[str, str]], kills: list[str]) -> None:
        await eventually(lambda: rt.calls >= 2, "startup probe attempts")
        assert not probes.started and not probes.is_ready()
        assert all(msg.startswith("Startup probe failed") for _, msg in events)
        rt.exit_code = 0
        await eventually(lambda: probes.started and probes.is_ready(), "started, then ready")

    await with_probes(c, rt, body)


async def test_named_port_and_missing_handler() -> None:
    rt = FakeRuntime()
    c = container()
    out = await run_probe(container(livenessProbe={"tcpSocket": {"port": "nope"}}).liveness_probe,  # type: ignore[arg-type]
                          rt, "cid", c, "127.0.0.1")  # type: ignore[arg-type]
    assert not out.ok and "not a named port" in out.message

"""`kubelite controller-manager` as a real process: flags, /readyz, reconnects, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from typing import Any

import pytest

from kubelite.api import Pod
from kubelite.client import ApiClient
from tests.integration.controllers.helpers import count_is, deployment, pods_of, wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0, ""
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def start(server: str, port: int, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubelite.main", "controller-manager", "--server", server,
        "--listen-health", f"127.0.0.1:{port}", *extra,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, bytes]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
    return proc.returncode or 0, err


async def test_daemon_runs_controllers_survives_apiserver_restart_and_stops(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    port = free_port()
    proc = await start(control_plane.server, port, "--workers", "3", "--controllers", "rs,deploy,gc")
    try:
        async def ready() -> bool:
            return (await http_get(port, "/readyz"))[0] == 200

        await wait_for(ready, "/readyz to answer 200", timeout=30)
        await client.create(deployment("daemon", 2))
        pods = await wait_for(lambda: count_is(client, "daemon", 2), "2 pods made by the daemon")
        status, metrics = await http_get(port, "/metrics")
        assert status == 200 and 'controller_reconcile_total{controller="deployment"}' in metrics

        await control_plane.restart_apiserver()
        victim = pods[0].metadata.name
        await client.delete(Pod, victim)

        async def replaced() -> bool:
            now = await pods_of(client, "daemon")
            return len(now) == 2 and victim not in {p.metadata.name for p in now}

        await wait_for(replaced, "the pod to be replaced after the apiserver restarted", timeout=40)
    finally:
        code, err = await stop(proc)
    assert code == 0, err.decode()[-2000:]
    errors = [line for line in err.decode().splitlines() if '"level": "error"' in line]
    print("\n".join(errors))
    assert not errors, errors[:3]


async def test_not_ready_without_apiserver_and_sigterm_still_stops() -> None:
    port = free_port()
    proc = await start(f"127.0.0.1:{free_port()}", port, "--log-level", "debug")
    try:
        async def answering() -> int:
            return (await http_get(port, "/healthz"))[0]

        assert await wait_for(answering, "/healthz", timeout=30) == 200
        status, body = await http_get(port, "/readyz")
        assert status == 503 and "apiserver not reachable" in body
    finally:
        code, _ = await stop(proc)
    assert code == 0


def test_bad_flags_are_rejected() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubelite.main", "controller-manager", "--controllers", "rs,bogus"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "unknown controller 'bogus'" in result.stderr and "Traceback" not in result.stderr

"""`kubelite scheduler` as a real process: flags, /readyz, binding, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from typing import Any

import pytest

from kubelite.api import Node, Pod
from kubelite.client import ApiClient

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def readyz(port: int) -> int:
    try:
        return (await http_get(port, "/readyz"))[0]
    except OSError:
        return 0


async def wait_for(probe: Any, what: str, timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_daemon_becomes_ready_binds_and_stops_on_sigterm(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    node = await client.create(Node.from_dict({"metadata": {"name": "worker"}}))
    node.status = Node.from_dict({"status": {
        "allocatable": {"cpu": "2", "memory": "2Gi", "pods": "10"},
        "conditions": [{"type": "Ready", "status": "True"}],
    }}).status
    await client.update_status(node)

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubelite.main", "scheduler", "--server", control_plane.server,
        "--listen-health", f"127.0.0.1:{port}", "--log-level", "debug",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_for(lambda: _is(readyz(port), 200), "/readyz to answer 200")

        async def leading_metrics() -> bool:  # a standby is ready too; the gauges come with the lease
            status, body = await http_get(port, "/metrics")
            return status == 200 and "scheduler_pending_pods" in body

        await wait_for(leading_metrics, "/metrics to show the leading scheduler's queue")

        await client.create(Pod.from_dict({
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "1"}}}]},
        }))

        async def bound() -> str | None:
            return (await client.get(Pod, "web")).spec.node_name or None

        assert await wait_for(bound, "the pod to be bound") == "worker"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert proc.stderr is not None
        logs = (await proc.stderr.read()).decode()
        assert '"component": "scheduler"' in logs and "Traceback" not in logs
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _is(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def test_not_ready_without_apiserver_and_still_stops_cleanly() -> None:
    port = free_port()
    dead_server = f"127.0.0.1:{free_port()}"  # nothing listens there
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubelite.main", "scheduler", "--server", dead_server,
        "--listen-health", f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        status = await wait_for(lambda: readyz(port), "the health endpoint to answer")
        assert status == 503, "not ready while the informers cannot list"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_bad_flags_fail_clearly() -> None:
    from scheduler.main import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--listen-health", "nope"])

"""`kubelite kubelet` as a real process: /readyz, survives an apiserver restart,
and SIGTERM stops it with exit 0 leaving no container process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kubelite.api import Node, Pod
from kubelite.client import ApiClient
from kubelite.procs import http_get_status, live_pids_with
from tests.polling import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")
NODE_IP = "127.0.0.12"
MARKER = f"kubelet-daemon-{uuid.uuid4().hex[:8]}"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])




def marked_pids() -> list[int]:
    return live_pids_with(MARKER)


def pod(name: str) -> Pod:
    return Pod.from_dict({
        "metadata": {"name": name},
        "spec": {"nodeName": "daemon-node", "terminationGracePeriodSeconds": 2, "containers": [
            {"name": "main", "image": "busybox", "command": ["sh", "-c", "while true; do sleep 0.2; done", MARKER]},
        ]},
    })


async def running_pid(client: ApiClient, name: str) -> int | None:
    p = await client.get(Pod, name)
    statuses = p.status.container_statuses
    if p.status.phase != "Running" or not statuses or statuses[0].state.running is None:
        return None
    pid = int((statuses[0].container_id or "process://0").rpartition("/")[2])
    return pid if pid in marked_pids() else None


async def test_kubelet_daemon_lifecycle(control_plane: Any, tmp_path: Path) -> None:
    client: ApiClient = control_plane.client
    health = f"{NODE_IP}:{free_port(NODE_IP)}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubelite.main", "kubelet", "--server", control_plane.server,
        "--node-name", "daemon-node", "--node-ip", NODE_IP, "--listen", f"{NODE_IP}:{free_port(NODE_IP)}",
        "--listen-health", health, "--data-dir", str(tmp_path / "node"), "--runtime", "process",
        "--capacity-cpu", "3", "--capacity-memory", "3Gi", "--log-level", "debug",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async def ready() -> bool:
            return await http_get_status(health, "/readyz") == 200

        await eventually(ready, "kubelet /readyz")
        node = await client.get(Node, "daemon-node", "")
        assert node.status.capacity["cpu"] == "3" and node.status.capacity["memory"] == "3Gi"

        await client.create(pod("before"))
        await eventually(lambda: running_pid(client, "before"), "pod started before the apiserver restart")

        await control_plane.restart_apiserver()
        await client.create(pod("after"))
        await eventually(lambda: running_pid(client, "after"), "pod started after the apiserver restart")
        assert len(marked_pids()) == 2

        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, stderr.decode()[-3000:]
        assert b"Traceback" not in stderr
        assert not marked_pids(), "containers outlived the kubelet"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_runc_runtime_is_refused_clearly_where_it_cannot_run(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path / "no-tools-here")}  # no runc, conmon, unshare
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubelite.main", "kubelet", "--server", "127.0.0.1:1", "--node-name", "n",
        "--node-ip", NODE_IP, "--listen", f"{NODE_IP}:0", "--listen-health", f"{NODE_IP}:0",
        "--data-dir", str(tmp_path), "--runtime", "runc",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"runc runtime cannot run here" in stderr and b"Traceback" not in stderr

"""What every benchmark needs: free ports, daemons started as real processes, readiness waits.

Why real processes: the figures must include gRPC, serialization and the
process boundaries a user's cluster has, not an in-process shortcut.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kubelite.procs import http_get_status  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`kubelite <argv>` as a child process, output to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "kubelite.main", *argv], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)


async def wait_ready(health: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await http_get_status(health, "/readyz") == 200:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"daemon at {health} did not become ready")


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def start_kvstore(tmp: Path, procs: list[subprocess.Popen[bytes]], members: int = 1) -> list[str]:
    """A kvstore of `members` members (Raft over loopback when > 1); returns the client endpoints
    once every member answers /readyz."""
    names = [f"kv-{i}" for i in range(1, members + 1)]
    peer = {n: free_port() for n in names}
    initial = ",".join(f"{n}=http://127.0.0.1:{peer[n]}" for n in names)
    endpoints, healths = [], []
    for n in names:
        client, health = free_port(), free_port()
        argv = ["kvstore", "--name", n, "--data-dir", f"{tmp}/{n}", "--listen-client", f"127.0.0.1:{client}",
                "--listen-health", f"127.0.0.1:{health}", "--log-level", "warning"]
        if members > 1:
            argv += ["--listen-peer", f"127.0.0.1:{peer[n]}", "--initial-cluster", initial]
        procs.append(start(argv, tmp / f"{n}.log"))
        endpoints.append(f"127.0.0.1:{client}")
        healths.append(f"127.0.0.1:{health}")
    for h in healths:
        await wait_ready(h, timeout=60.0)
    return endpoints


async def start_control_plane(tmp: Path, procs: list[subprocess.Popen[bytes]],
                              apiserver_args: list[str] | None = None, kv_members: int = 1) -> str:
    """A kvstore of `kv_members` members and an apiserver (plus `apiserver_args`); returns the
    apiserver address."""
    tmp.mkdir(parents=True, exist_ok=True)
    endpoints = await start_kvstore(tmp, procs, kv_members)
    api, apih = free_port(), free_port()
    procs.append(start(["apiserver", "--etcd-servers", ",".join(endpoints), "--listen", f"127.0.0.1:{api}",
                        "--listen-health", f"127.0.0.1:{apih}", *(apiserver_args or [])], tmp / "api.log"))
    await wait_ready(f"127.0.0.1:{apih}")
    return f"127.0.0.1:{api}"


async def create_default_service_account(client: Any) -> None:
    """default/default, which ServiceAccount admission requires for a pod; in a cluster the
    controller-manager makes it, and a benchmark's control plane runs none."""
    await client.create_raw("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                "metadata": {"name": "default", "namespace": "default"}})

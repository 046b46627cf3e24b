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


async def start_control_plane(tmp: Path, procs: list[subprocess.Popen[bytes]],
                              apiserver_args: list[str] | None = None) -> str:
    """A one-member kvstore and an apiserver (plus `apiserver_args`); returns the apiserver address."""
    kv, kvh, api, apih = (free_port() for _ in range(4))
    tmp.mkdir(parents=True, exist_ok=True)
    procs.append(start(["kvstore", "--data-dir", f"{tmp}/kv", "--listen-client", f"127.0.0.1:{kv}",
                        "--listen-health", f"127.0.0.1:{kvh}"], tmp / "kv.log"))
    await wait_ready(f"127.0.0.1:{kvh}")
    procs.append(start(["apiserver", "--etcd-servers", f"127.0.0.1:{kv}", "--listen", f"127.0.0.1:{api}",
                        "--listen-health", f"127.0.0.1:{apih}", *(apiserver_args or [])], tmp / "api.log"))
    await wait_ready(f"127.0.0.1:{apih}")
    return f"127.0.0.1:{api}"

"""Starting, probing and stopping daemon processes for `kubelite up/down`.

Why pid *and* start time: `down` may run long after `up`; a pid alone could
by then belong to an unrelated process, and we must never signal that.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kubelite import nsconnect


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19])


def is_alive(pid: int) -> bool:
    """The process exists and is not a zombie (exited, not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2] != "Z"


def is_same_process_alive(pid: int, start_ticks: int) -> bool:
    ticks = process_start_ticks(pid)
    if ticks is None or ticks != start_ticks:
        return False
    return is_alive(pid)


def live_pids_with(marker: str, source: str = "cmdline") -> list[int]:
    """Pids of live processes other than this one whose /proc/PID/`source` holds `marker`.

    In `cmdline` anywhere; in `environ` it must end a variable, so that the marker
    `KUBELITE_CLUSTER_DIR=/tmp/a` does not also find the processes of `/tmp/ab`.
    """
    needle = marker.encode() + (b"\0" if source == "environ" else b"")
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            data = (entry / source).read_bytes() + b"\0"
        except OSError:
            continue
        if needle in data and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def spawn_daemon(
    argv: list[str], log_path: Path, env: dict[str, str] | None = None, prefix: list[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `kubelite <argv>` detached in its own session, output appended to `log_path`.

    `prefix` wraps the command (e.g. `nsenter --net=...` for a node); it must exec,
    not fork, so the pid is the daemon's own.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "kubelite.main", *argv],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, close_fds=True,
        )


async def http_get_status(hostport: str, path: str, timeout: float = 2.0, netns: str | None = None) -> int | None:
    """Status code of `GET http://hostport/path`, or None when unreachable.

    `netns`: the path of the network namespace the endpoint listens in (a node's
    loopback health endpoint), connected to from there (see `nsconnect`)."""
    host, _, port = hostport.rpartition(":")
    try:
        if netns:
            reader, writer = await nsconnect.open_connection(netns, host, int(port), timeout)
        else:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        parts = line.split()
        return int(parts[1]) if len(parts) >= 2 else None
    except (OSError, TimeoutError, ValueError):
        return None
    finally:
        writer.close()


async def stop_process(pid: int, start_ticks: int, grace_seconds: float) -> bool:
    """SIGTERM, wait up to `grace_seconds`, then SIGKILL. True if it had to be killed."""
    if not is_same_process_alive(pid, start_ticks):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_same_process_alive(pid, start_ticks):
            return False
        await asyncio.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while is_same_process_alive(pid, start_ticks):
        _reap(pid)
        await asyncio.sleep(0.05)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the daemon is our own child (tests run up+down in one process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass

"""conmon: the per-container monitor that owns a runc container's process.

Why conmon: it is the parent (subreaper) of the container process instead of
the kubelet, so containers keep running -- and keep logging in the CRI format,
and still get their exit code recorded -- while the kubelet restarts. The kubelet
learns everything afterwards from files conmon leaves behind:

    <exit_dir>/<id>        exit code (128+n when killed by signal n)
    <persist_dir>/exit     the same
    <persist_dir>/oom      present when the kernel OOM killer hit the container

conmon daemonises at once and, without a sync pipe, would report success before
`runc create` has even finished; so it gets `_OCI_SYNCPIPE` and we wait for its
`{"data": PID}` (or `{"data": -1, "message": ...}`) before anybody calls `runc start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

SYNC_TIMEOUT = 60.0


class ConmonError(Exception):
    """conmon or `runc create` failed; the message is runc's own error when it gave one."""


@dataclass(frozen=True)
class ConmonPaths:
    bundle: Path
    container_pidfile: Path
    conmon_pidfile: Path
    log_path: Path  # CRI (k8s-file) log
    exit_dir: Path
    persist_dir: Path
    socket_dir: Path
    conmon_log: Path  # conmon's own stderr (diagnostics)


def conmon_argv(conmon: str, runc: str, runc_root: Path, cid: str, name: str, p: ConmonPaths) -> list[str]:
    return [
        conmon, "--api-version", "1", "-c", cid, "-u", cid, "-n", name, "-r", runc, "-b", str(p.bundle),
        "-p", str(p.container_pidfile), "-P", str(p.conmon_pidfile), "-l", f"k8s-file:{p.log_path}",
        "--exit-dir", str(p.exit_dir), "--persist-dir", str(p.persist_dir),
        "--socket-dir-path", str(p.socket_dir), "--runtime-arg", "--root", "--runtime-arg", str(runc_root),
        "--log-level", "error",
    ]


def parse_sync(data: bytes) -> int:
    """The container pid from conmon's sync message; ConmonError with runc's message on failure."""
    line = data.split(b"\n", 1)[0].strip()
    if not line:
        raise ConmonError("conmon exited without reporting the container (see its log)")
    try:
        doc = json.loads(line)
        pid = int(doc["data"])
    except (ValueError, KeyError, TypeError):
        raise ConmonError(f"unexpected message from conmon: {line[:200]!r}") from None
    if pid <= 0:
        raise ConmonError(_runc_message(str(doc.get("message", "runc create failed"))))
    return pid


def _runc_message(text: str) -> str:
    """runc logs `time=... level=error msg="..."`; keep just the msg."""
    text = text.strip()
    marker = 'msg="'
    at = text.find(marker)
    if at >= 0:
        msg = text[at + len(marker):]
        end = msg.rfind('"')
        return (msg[:end] if end >= 0 else msg).replace('\\"', '"')
    return text


async def spawn(
    conmon: str, runc: str, runc_root: Path, cid: str, name: str, paths: ConmonPaths,
    timeout: float = SYNC_TIMEOUT,
) -> int:
    """Start conmon (which runs `runc create`) and return the container's host pid."""
    # Absolute paths: conmon runs in the container's directory (see below), not ours.
    paths = replace(paths, **{f.name: Path(getattr(paths, f.name)).absolute() for f in fields(paths)})
    runc_root = runc_root.absolute()
    for d in (paths.exit_dir, paths.persist_dir, paths.socket_dir, paths.log_path.parent):
        d.mkdir(parents=True, exist_ok=True)
    sync_r, sync_w = os.pipe()
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "_OCI_SYNCPIPE": str(sync_w)}
    try:
        with open(paths.conmon_log, "ab") as errlog:
            proc = await asyncio.create_subprocess_exec(
                *conmon_argv(conmon, runc, runc_root, cid, name, paths),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=errlog,
                pass_fds=(sync_w,), env=env, start_new_session=True,
                # conmon also drops an `oom` marker into its working directory: keep it in the
                # container's own directory, not wherever the kubelet was started.
                cwd=paths.persist_dir,
            )
    except OSError as exc:
        os.close(sync_r)
        raise ConmonError(f"cannot run conmon: {exc.strerror or exc}") from exc
    finally:
        os.close(sync_w)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(sync_r, "rb", buffering=0)
    )
    try:
        data = await asyncio.wait_for(reader.readline(), timeout)
    except TimeoutError:
        raise ConmonError(f"conmon did not report within {timeout:.0f}s") from None
    finally:
        transport.close()  # the daemon keeps its end open until the container exits
        # The first conmon process exits after daemonising; reap it.
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            await asyncio.wait_for(proc.wait(), 5.0)
    if not data:
        extra = _tail(paths.conmon_log)
        raise ConmonError("conmon exited without reporting the container" + (f": {extra}" if extra else ""))
    return parse_sync(data)


def _tail(path: Path, limit: int = 300) -> str:
    try:
        return path.read_text(errors="replace").strip()[-limit:]
    except OSError:
        return ""


def read_exit_code(path: Path) -> int | None:
    """The exit code conmon recorded, or None while the container runs."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        return int(text)
    except ValueError:
        return None  # being written: try again on the next poll


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None

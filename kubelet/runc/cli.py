"""The `runc` command line, as the runtime uses it (one `--root` per kubelet).

Why a private `--root`: several kubelets share one machine in a local cluster;
each must see (and re-adopt, and clean up) only its own containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

RUNC_TIMEOUT = 30.0


class RuncError(Exception):
    """A runc command failed; the message is runc's own error text."""


def runc_message(stderr: bytes) -> str:
    """runc logs `time=... level=error msg="..."`; keep the msg part."""
    text = stderr.decode(errors="replace").strip()
    at = text.rfind('msg="')
    if at >= 0:
        msg = text[at + 5:]
        end = msg.rfind('"')
        text = (msg[:end] if end >= 0 else msg).replace('\\"', '"')
    return text or "runc failed"


class Runc:
    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.root), *args]

    async def run(self, *args: str, timeout: float = RUNC_TIMEOUT) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*args), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise RuncError(f"runc {args[0]} timed out after {timeout:.0f}s") from None
        assert proc.returncode is not None
        return proc.returncode, out, err

    async def check(self, *args: str) -> bytes:
        code, out, err = await self.run(*args)
        if code != 0:
            raise RuncError(runc_message(err))
        return out

    async def start(self, cid: str) -> None:
        await self.check("start", cid)

    async def kill(self, cid: str, signal: str) -> bool:
        """Signal the container's init; False when it is not running (any more)."""
        code, _, _ = await self.run("kill", cid, signal)
        return code == 0

    async def delete(self, cid: str) -> None:
        """Forget the container (killing it if needed); fine if runc never heard of it."""
        code, _, err = await self.run("delete", "--force", cid)
        if code != 0 and b"does not exist" not in err and b"not exist" not in err:
            raise RuncError(runc_message(err))

    async def state(self, cid: str) -> dict[str, Any] | None:
        code, out, _ = await self.run("state", cid)
        if code != 0:
            return None
        try:
            doc = json.loads(out)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    async def list_all(self) -> dict[str, dict[str, Any]]:
        """id -> runc's view ({"status": "running"|"created"|"stopped"|"paused", "pid": ...})."""
        if not self.root.is_dir():
            return {}
        out = await self.check("list", "--format", "json")
        try:
            items = json.loads(out or b"null") or []
        except ValueError:
            return {}
        return {str(i["id"]): i for i in items if isinstance(i, dict) and "id" in i}

    def exec_argv(self, cid: str, cmd: list[str], tty: bool, pid_file: Path) -> list[str]:
        return self.argv("exec", "--pid-file", str(pid_file), *(["--tty"] if tty else []), cid, *cmd)

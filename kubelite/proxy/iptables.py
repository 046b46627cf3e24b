"""Running iptables: restore payloads, save tables, check and insert the jump rules.

Why only these few commands: every rule change goes through one
`iptables-restore --noflush` per transaction (atomic, and one process for
thousands of rules); `iptables -C/-I` is used only for the handful of jumps from
built-in chains, which a restore cannot add idempotently.

`prefix` runs every command under another command, e.g. `ip netns exec NS`
(benchmarks and tests program a namespace from outside it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from kubelite.proxy.rules import Jump

log = logging.getLogger("proxy.iptables")


class IptablesError(Exception):
    """A command failed; the message holds the command and its stderr."""


class IptablesLike(Protocol):
    """What the syncer needs; tests and benchmarks substitute recorders."""

    async def restore(self, payload: str) -> None: ...

    async def save(self, table: str) -> str: ...

    async def ensure_jump(self, jump: Jump) -> bool: ...


class Iptables:
    def __init__(self, prefix: Sequence[str] = (), timeout: float = 300.0) -> None:
        self.prefix = list(prefix)
        self.timeout = timeout

    async def _run(self, argv: list[str], stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        cmd = [*self.prefix, *argv]
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except FileNotFoundError as exc:
            raise IptablesError(f"{cmd[0]}: not found (is iptables installed?)") from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), self.timeout)
        except (TimeoutError, asyncio.CancelledError):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        return proc.returncode or 0, out, err

    async def restore(self, payload: str) -> None:
        """Apply one payload atomically, leaving chains it does not mention alone."""
        rc, _, err = await self._run(["iptables-restore", "-w", "--noflush"], payload.encode())
        if rc != 0:
            raise IptablesError(f"iptables-restore failed (exit {rc}): {_first_lines(err)}")

    async def save(self, table: str) -> str:
        rc, out, err = await self._run(["iptables-save", "-t", table])
        if rc != 0:
            raise IptablesError(f"iptables-save -t {table} failed (exit {rc}): {_first_lines(err)}")
        return out.decode()

    async def has_jump(self, jump: Jump) -> bool:
        rc, _, err = await self._run(["iptables", "-w", "-t", jump.table, "-C", jump.chain, *jump.spec])
        if rc == 0:
            return True
        if rc == 1:
            return False
        raise IptablesError(f"iptables -C {jump.chain} failed (exit {rc}): {_first_lines(err)}")

    async def ensure_jump(self, jump: Jump) -> bool:
        """Prepend `jump` unless present; True when it had to be added."""
        if await self.has_jump(jump):
            return False
        rc, _, err = await self._run(["iptables", "-w", "-t", jump.table, "-I", jump.chain, "1", *jump.spec])
        if rc != 0:
            raise IptablesError(f"iptables -I {jump.chain} failed (exit {rc}): {_first_lines(err)}")
        return True


def _first_lines(err: bytes, n: int = 5) -> str:
    lines = err.decode(errors="replace").strip().splitlines()
    return " | ".join(lines[:n]) or "(no output)"

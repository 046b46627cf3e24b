"""Exec sessions backed by a local child process (shared by both runtimes).

Why one implementation: `kctl exec` and exec probes look the same whether the
command is a host process (process runtime) or `runc exec` (runc runtime) --
either way the kubelet owns a child process whose stdin/stdout/stderr it
relays. With `tty=True` the child gets a pseudo-terminal (its stdout and stderr
merge into fd 1), unless the child makes its own terminal (`runc exec -t`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import struct
import termios
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from kubelet.runtime import ContainerState, ContainerStatus, ExecError, ExecResult, ExecSession

READ_CHUNK = 32 * 1024
KILL_WAIT = 5.0


def exit_code_of(returncode: int) -> int:
    """Kubernetes reports death by signal n as exit code 128+n."""
    return 128 - returncode if returncode < 0 else returncode


class ProcessExecSession:
    """An `ExecSession` over one child process; create with `await ProcessExecSession.spawn(...)`."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        readers: list[tuple[int, int]],
        stdin_fd: int | None,
        killer: Callable[[], None] | None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._proc = proc
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._stdin_fd = stdin_fd
        self._killer = killer
        self._on_exit = on_exit
        self._open_streams = len(readers)
        self._tty_fd: int | None = None
        self._tasks = [asyncio.create_task(self._read(fd, stream)) for stream, fd in readers]

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        tty: bool = False,
        killer: Callable[[], None] | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> ProcessExecSession:
        """Start `argv` in its own session. `killer` (optional) is what `kill()` runs besides
        killing the child's group, e.g. killing the process `runc exec` started inside a
        container; `on_exit` runs once the child has exited (cleanup)."""
        if tty:
            master, slave = os.openpty()
            # The pty must become the controlling terminal (`runc exec -t` opens /dev/tty):
            # `setsid --ctty` does setsid + TIOCSCTTY; it does not fork as we are not a group leader.
            setsid = shutil.which("setsid")
            prefix = [setsid, "--ctty"] if setsid else []
            try:
                proc = await asyncio.create_subprocess_exec(
                    *prefix, *argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                    start_new_session=not prefix,
                )
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            stdin_fd = os.dup(master)
            session = cls(proc, [(1, master)], stdin_fd, killer, on_exit)
            session._tty_fd = stdin_fd
            return session
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=in_r, stdout=out_w, stderr=err_w, env=env, cwd=cwd, start_new_session=True,
            )
        except BaseException:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        return cls(proc, [(1, out_r), (2, err_r)], in_w, killer, on_exit)

    @property
    def pid(self) -> int:
        return self._proc.pid

    async def _read(self, fd: int, stream: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2 * READ_CHUNK)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            while True:
                try:
                    chunk = await reader.read(READ_CHUNK)
                except OSError:  # EIO on a pty master once the slave side is gone
                    break
                if not chunk:
                    break
                await self._queue.put((stream, chunk))
        finally:
            transport.close()
            await self._queue.put(None)

    async def write_stdin(self, data: bytes) -> None:
        if self._stdin_fd is None:
            return
        fd = self._stdin_fd
        try:
            await asyncio.to_thread(_write_all, fd, data)
        except OSError:  # the process stopped reading (exited): like a closed pipe
            await self.close_stdin()

    def resize(self, width: int, height: int) -> None:
        """Set the pty's size; the kernel tells the foreground process (`runc exec -t` passes it on)."""
        fd = self._tty_fd
        if fd is None or self._stdin_fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def close_stdin(self) -> None:
        fd, self._stdin_fd = self._stdin_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        while self._open_streams > 0:
            item = await self._queue.get()
            if item is None:
                self._open_streams -= 1
                continue
            yield item

    async def wait(self) -> int:
        code = exit_code_of(await self._proc.wait())
        await self.close_stdin()
        self._exited()
        return code

    def _exited(self) -> None:
        hook, self._on_exit = self._on_exit, None
        if hook is not None:
            with contextlib.suppress(Exception):
                hook()

    async def kill(self) -> None:
        if self._killer is not None:
            with contextlib.suppress(OSError):
                self._killer()
        if self._proc.returncode is None:
            for send in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    send(self._proc.pid, signal.SIGKILL)
        await self.close_stdin()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._proc.wait(), KILL_WAIT)
            self._exited()

    async def collect(self, timeout: float, drain: float = 1.0) -> ExecResult:
        """Run to completion (stdin closed) and return its output; on timeout kill the
        command and raise TimeoutError. `drain` bounds waiting for pipes held open by
        a background grandchild after the command itself exited."""
        await self.close_stdin()
        out = bytearray()
        err = bytearray()

        async def gather() -> None:
            async for stream, chunk in self.output():
                (out if stream == 1 else err).extend(chunk)

        reader = asyncio.create_task(gather())
        try:
            code = await asyncio.wait_for(self.wait(), max(timeout, 0.001))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), drain)
        except TimeoutError:
            await self.kill()
            raise
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            for task in self._tasks:
                if not task.done():
                    task.cancel()
        return ExecResult(code, bytes(out), bytes(err))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class SpawnedExec:
    """`exec_sync` and `exec_stream` of a runtime whose exec is a child process of the
    kubelet (a host process, or `runc exec`): the runtime only says how to spawn it."""

    async def _spawn_exec(self, container_id: str, cmd: list[str], tty: bool) -> ProcessExecSession:
        raise NotImplementedError

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        session = await self._spawn_exec(container_id, cmd, tty=False)
        return await session.collect(timeout)

    async def exec_stream(self, container_id: str, cmd: list[str], tty: bool) -> ExecSession:
        return await self._spawn_exec(container_id, cmd, tty)


def check_exec(status: ContainerStatus, name: str, cmd: list[str]) -> None:
    """Refuse an exec into a container that is not running, or with no command."""
    if status.state is not ContainerState.RUNNING:
        raise ExecError(f"container {name!r} is not running")
    if not cmd:
        raise ExecError("no command to exec")

"""Exit detection for runc containers: polling conmon's exit files.

Why apart from the runtime (`runtime.py`): conmon, not the kubelet, is a
container's parent, so the kubelet never reaps anything -- it learns of an exit
by one cheap stat of `<state>/exits/<id>` per running container every poll, which
works the same for containers re-adopted after a kubelet restart. This module
owns that poll, turns conmon's files into a final status (`persist/oom` gives
reason `OOMKilled`; a dead conmon without an exit file gives an unknown exit)
and tells the exit listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from pathlib import Path

from kubelet.runc import conmon
from kubelet.runc.records import ContainerRecord, conmon_alive
from kubelet.runtime import ContainerState, ExitListener, notify_exit

log = logging.getLogger(__name__)

LIVENESS_EVERY = 20  # polls between checks that conmon itself is still alive


class ExitWatcher:
    """Polls the running containers of `containers` (shared with the runtime) for exits."""

    def __init__(self, exit_dir: Path, containers: dict[str, ContainerRecord], poll_interval: float) -> None:
        self.dir = exit_dir
        self.listeners: list[ExitListener] = []
        self._containers = containers
        self._poll = poll_interval
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="runc-exit-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        polls = 0
        while True:
            await asyncio.sleep(self._poll)
            polls += 1
            for c in list(self._containers.values()):
                if c.status.state is not ContainerState.RUNNING:
                    continue
                try:
                    self.check(c, force=polls % LIVENESS_EVERY == 0 and not conmon_alive(c.dir))
                except Exception:  # never let one bad container stop exit detection for all
                    log.exception("checking container exit failed", extra={"id": c.id})

    def check(self, c: ContainerRecord, force: bool = False) -> None:
        """Pick up conmon's exit file; with `force` (conmon is gone) record an unknown exit."""
        if c.status.state is not ContainerState.RUNNING:
            return
        exit_file = self.dir / c.id
        code = conmon.read_exit_code(exit_file)
        if code is None and not force:
            return
        if code is None:
            code = conmon.read_exit_code(exit_file)
        try:
            finished = exit_file.stat().st_mtime
        except OSError:
            finished = time.time()
        oom = (c.dir / "persist" / "oom").exists()
        if code is None:
            code, reason, message = 137, "Error", "container monitor (conmon) died; exit code unknown"
        elif oom:
            reason, message = "OOMKilled", ""
        else:
            reason, message = ("Completed" if code == 0 else "Error"), ""
        c.status = replace(c.status, state=ContainerState.EXITED, exit_code=code, reason=reason, message=message,
                           finished_at=finished)
        c.exited.set()
        with contextlib.suppress(OSError):
            c.save()
        log.info("container exited", extra={"container": c.status.name, "id": c.id, "exit_code": code,
                                            "reason": reason})
        notify_exit(self.listeners, c.status)

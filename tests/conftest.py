"""Session-wide test guard: end the pytest process as soon as results are reported.

Why: grpc.aio objects that are finalized by the garbage collector after their
event loop has closed call into grpc's global shutdown, which joins grpc's
poller thread while that thread blocks in C: the interpreter then never exits.
pytest's own cleanup forces such collections after the run. Every test stops
the servers and channels it starts; this guard makes sure a finalizer that
slips through (grpc's, not ours) can never turn a finished, reported run into
a CI timeout. Results, exit status and the summary are complete when
`pytest_unconfigure` runs; only interpreter teardown is skipped.

For the same reason the shared session loop, when it closes after the last test,
does not run its leftover tasks one last time to cancel them: a leftover task
holding a grpc.aio call can crash grpc's C core when it runs at shutdown (seen
once in CI as a segfault after every test had passed). They are reported on
stderr and abandoned instead; any other `asyncio.run` keeps the normal cancel.
"""

from __future__ import annotations

import asyncio
import asyncio.runners
import os
import sys

import pytest

_exit_status: list[int] = []
_session_ending: list[bool] = []
_cancel_all_tasks = asyncio.runners._cancel_all_tasks  # type: ignore[attr-defined]


def _cancel_or_abandon(loop: asyncio.AbstractEventLoop) -> None:
    if not _session_ending:
        _cancel_all_tasks(loop)
        return
    left = sorted(t.get_name() for t in asyncio.all_tasks(loop) if not t.done())
    if left:
        sys.stderr.write(f"\nsession loop closed with {len(left)} task(s) left, abandoned: {', '.join(left[:10])}\n")


asyncio.runners._cancel_all_tasks = _cancel_or_abandon  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None:  # the session-scoped fixtures, the shared loop among them, close next
        _session_ending.append(True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if not _exit_status or hasattr(config, "workerinput"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status[-1])

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

`@pytest.mark.requires_root("why")` is the one way a test says it needs root.
Not root: it is skipped, and the reason shows in the summary (`-rs` in addopts).
With CI=true (CI runs as root with every tool of deploy/install-deps.sh) any skip
of such a test, for root or for a missing tool, is a failure: a root test that
silently stops running in CI is a test lost.
"""

from __future__ import annotations

import asyncio
import asyncio.runners
import os
import sys
from collections.abc import Generator
from typing import Any

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


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("requires_root")
    if marker is not None and os.geteuid() != 0:
        why = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        pytest.skip(f"needs root: {why}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail") and _in_ci()
            and item.get_closest_marker("requires_root") is not None):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"requires_root test skipped with CI=true (CI runs as root with every tool): {reason}"


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

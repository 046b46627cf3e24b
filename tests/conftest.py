"""Session-wide test guard: end the pytest process as soon as results are reported.

Why: grpc.aio objects that are finalized by the garbage collector after their
event loop has closed call into grpc's global shutdown, which joins grpc's
poller thread while that thread blocks in C: the interpreter then never exits.
pytest's own cleanup forces such collections after the run. Every test stops
the servers and channels it starts; this guard makes sure a finalizer that
slips through (grpc's, not ours) can never turn a finished, reported run into
a CI timeout. Results, exit status and the summary are complete when
`pytest_unconfigure` runs; only interpreter teardown is skipped.
"""

from __future__ import annotations

import os
import sys

import pytest

_exit_status: list[int] = []


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

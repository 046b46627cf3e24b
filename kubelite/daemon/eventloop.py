"""The event loop every kubelite daemon runs on: uvloop when it is installed, else asyncio's own.

Why: profiles of the kvstore under load (bench/README.md) spend a large share of
each request in the event loop itself -- callbacks, wake-ups from gRPC's poller
thread and the WAL's fsync thread, task switches -- and uvloop does that work in
C; a member used about 15-20% less CPU per request with it. Why in one place: every
daemon starts through `kubelite.daemon.run_daemon`, which calls `run` here, so all
of them get the same loop and a problem with it is switched off for all at once:
`KUBELITE_EVENT_LOOP=asyncio` forces the standard loop (uvloop missing also falls
back to it; `=uvloop` makes a missing uvloop an error instead).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "KUBELITE_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory `asyncio.Runner` should use (None: asyncio's default loop)."""
    choice = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ValueError(f"{ENV}={choice!r}: expected one of {', '.join(CHOICES)}")
    if choice == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """`uvloop` or `asyncio`: which loop a process ended up with (for logs and tests)."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop chosen by `loop_factory`."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)

"""SyncRunner: run one sync function in response to bursts of change, at a bounded rate.

Why: a rolling update fires dozens of Endpoints events in a second; each must
reach the rules quickly, but one sync covering all of them is as good as
dozens and much cheaper. Like kube-proxy's bounded-frequency runner:

* requests arriving while a sync runs or waits are coalesced into one next sync;
* two syncs never start closer than `min_interval` (0 = as soon as possible);
* a sync runs at least every `max_interval` even without requests, and
  `periodic=True` is passed at most once per `max_interval` so the callee can
  do its drift checks then;
* a failed sync is retried with exponential back-off (capped at `max_interval`).

All waiting goes through a `Clock` (by default the running event loop, whose
`time()` and `call_later()` it already has). Why injectable: the promises above
are about time, and "no extra sync happened" can only be shown deterministically
by a test that owns the clock and advances it, not by sleeping and hoping.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger("proxy.syncrunner")

SyncFunc = Callable[[bool], Awaitable[None]]


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What SyncRunner needs of time: an `asyncio.AbstractEventLoop` is one."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Timer: ...


class SyncRunner:
    def __init__(self, sync: SyncFunc, *, min_interval: float = 0.0, max_interval: float = 30.0,
                 retry_interval: float = 1.0, clock: Clock | None = None) -> None:
        self._sync = sync
        self._clock = clock  # None: the running loop, found in run()
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.retry_interval = retry_interval
        self._pending = asyncio.Event()
        self._stopping = False
        self._retry: Timer | None = None
        self._failures = 0
        self.runs = 0  # syncs started
        self.failures = 0  # syncs that raised

    def request(self) -> None:
        """Ask for a sync soon; cheap and idempotent (call it from informer handlers)."""
        self._pending.set()

    def stop(self) -> None:
        """Make `run` return once the sync in progress (if any) has finished."""
        self._stopping = True
        self._pending.set()

    async def run(self) -> None:
        clock: Clock = self._clock or asyncio.get_running_loop()
        last_start = -math.inf
        last_periodic = clock.time()
        try:
            while not self._stopping:
                if not self._pending.is_set():
                    timeout = max(0.0, last_start + self.max_interval - clock.time()) if self.max_interval > 0 else None
                    await self._wait_pending(clock, timeout)
                if self._stopping:
                    break
                delay = last_start + self.min_interval - clock.time()
                if delay > 0:
                    await self._sleep(clock, delay)
                await asyncio.sleep(0)  # requests made in this same loop turn join this sync
                self._pending.clear()
                now = clock.time()
                periodic = self.max_interval > 0 and now - last_periodic >= self.max_interval
                if periodic:
                    last_periodic = now
                last_start = now
                self.runs += 1
                try:
                    await self._sync(periodic)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.failures += 1
                    self._failures += 1
                    backoff = self.retry_interval * 2 ** min(self._failures - 1, 10)
                    if self.max_interval > 0:
                        backoff = min(backoff, self.max_interval)
                    log.error("sync failed; retrying", extra={"error": str(exc), "retry_in_s": round(backoff, 3)})
                    self._schedule_retry(clock, backoff)
                else:
                    self._failures = 0
        finally:
            if self._retry is not None:
                self._retry.cancel()

    async def _wait_pending(self, clock: Clock, timeout: float | None) -> None:
        """Until a request arrives or `timeout` passes: the periodic sync is due then, and running
        it is exactly what a request would cause, so the timer simply makes one."""
        if timeout is not None and timeout <= 0:
            return
        timer = None if timeout is None else clock.call_later(timeout, self._pending.set)
        try:
            await self._pending.wait()
        finally:
            if timer is not None:
                timer.cancel()

    @staticmethod
    async def _sleep(clock: Clock, delay: float) -> None:
        done = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)
        timer = clock.call_later(delay, wake)
        try:
            await done
        finally:
            timer.cancel()

    def _schedule_retry(self, clock: Clock, delay: float) -> None:
        if self._retry is not None:
            self._retry.cancel()
        self._retry = clock.call_later(delay, self.request)

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
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

log = logging.getLogger("proxy.syncrunner")

SyncFunc = Callable[[bool], Awaitable[None]]


class SyncRunner:
    def __init__(self, sync: SyncFunc, *, min_interval: float = 0.0, max_interval: float = 30.0,
                 retry_interval: float = 1.0) -> None:
        self._sync = sync
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.retry_interval = retry_interval
        self._pending = asyncio.Event()
        self._stopping = False
        self._retry: asyncio.TimerHandle | None = None
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
        loop = asyncio.get_running_loop()
        last_start = -math.inf
        last_periodic = loop.time()
        try:
            while not self._stopping:
                if not self._pending.is_set():
                    timeout = max(0.0, last_start + self.max_interval - loop.time()) if self.max_interval > 0 else None
                    try:
                        await asyncio.wait_for(self._pending.wait(), timeout)
                    except TimeoutError:
                        pass
                if self._stopping:
                    break
                delay = last_start + self.min_interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await asyncio.sleep(0)  # requests made in this same loop turn join this sync
                self._pending.clear()
                now = loop.time()
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
                    self._schedule_retry(loop, backoff)
                else:
                    self._failures = 0
        finally:
            if self._retry is not None:
                self._retry.cancel()

    def _schedule_retry(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        if self._retry is not None:
            self._retry.cancel()
        self._retry = loop.call_later(delay, self.request)

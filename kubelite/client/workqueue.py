"""A work queue of object keys for level-triggered controllers.

Why this shape (dirty + processing sets): informer handlers may enqueue the
same key many times while a worker is busy with it; the controller only needs
to reconcile the latest state once more afterwards. So a key waiting in the
queue is stored once (dedupe), a key is never handed to two workers at once,
and a key re-added while being processed is handed out again after `done()`.
Failures are retried with per-key exponential back-off so a broken object
cannot spin a worker, and `forget()` resets the back-off after a success.
This is the only back-off a controller has (as client-go's rate-limited
queue): a second one on top would make the two disagree about when to retry.

Delays are measured on an injectable monotonic clock (default
`time.monotonic`), so tests can move a fake clock and call `poll()` instead of
waiting in real time.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from kubelite.api.errors import Conflict, ServiceUnavailable, Timeout

log = logging.getLogger("client.workqueue")

TIMER_SLACK = 0.001
"""A key due within this many seconds when the timer fires is due. uvloop's timers count whole
milliseconds on libuv's cached clock, so a timer armed by `time.monotonic` fires up to a
millisecond early; re-arming for the crumb left spun the loop (~20 firings per delayed key)."""


class QueueShutDown(Exception):
    """Raised by `WorkQueue.get()` once the queue is shut down."""


class WorkQueue:
    """Async FIFO of string keys with dedupe, delayed and rate-limited adds.

    Must be used from one event loop (the one running when delayed adds are
    scheduled); all methods except `get()` are synchronous and never block, so
    informer handlers can call `add()` directly.
    """

    def __init__(self, name: str, base_delay: float = 0.005, max_delay: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._clock = clock
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._waiting: dict[str, float] = {}  # key -> due (on `clock`)
        self._due: list[tuple[float, str]] = []  # heap of (due, key); stale entries are skipped
        self._timer: asyncio.TimerHandle | None = None
        self._getters: list[asyncio.Future[None]] = []
        self._shutdown = False

    def __len__(self) -> int:
        """Keys ready to be handed out (not counting delayed or in-process ones)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutdown

    def add(self, key: str) -> None:
        """Queue `key` unless it is already waiting; ignored after shutdown."""
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # handed out again by done()
        self._queue.append(key)
        self._wake()

    def add_after(self, key: str, seconds: float) -> None:
        """Queue `key` after `seconds`; an earlier pending deadline for it wins."""
        if self._shutdown:
            return
        if seconds <= 0:
            self.add(key)
            return
        due = self._clock() + seconds
        pending = self._waiting.get(key)
        if pending is not None and pending <= due:
            return
        self._waiting[key] = due
        heapq.heappush(self._due, (due, key))
        self._arm()

    def poll(self, slack: float = 0.0) -> int:
        """Queue every delayed key whose time has come on the clock (or comes within `slack`
        seconds); returns how many.

        Called by the timer (and by `get()`); a test with a fake clock calls it
        after advancing the clock.
        """
        now = self._clock() + slack
        fired = 0
        while self._due and self._due[0][0] <= now:
            due, key = heapq.heappop(self._due)
            if self._waiting.get(key) != due:
                continue  # superseded by an earlier deadline
            del self._waiting[key]
            self.add(key)
            fired += 1
        self._arm()
        return fired

    def _arm(self) -> None:
        """(Re)schedule the one timer for the earliest pending deadline, if a loop runs."""
        while self._due and self._waiting.get(self._due[0][1]) != self._due[0][0]:
            heapq.heappop(self._due)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._due or self._shutdown:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous test): `poll()` does the work
        self._timer = loop.call_later(max(0.0, self._due[0][0] - self._clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.poll(TIMER_SLACK)

    def add_rate_limited(self, key: str) -> float:
        """Queue `key` after its exponential back-off; returns the delay used.

        The n-th consecutive failure waits base_delay * 2**(n-1), capped at
        max_delay, until `forget(key)`.
        """
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.base_delay * 2.0 ** min(failures, 64), self.max_delay)
        self.add_after(key, delay)
        return delay

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: str) -> None:
        """Reset the back-off of `key` (after a successful reconcile)."""
        self._failures.pop(key, None)

    async def get(self) -> str:
        """Wait for a key and mark it processing; raises QueueShutDown after shutdown()."""
        while True:
            if self._shutdown:
                raise QueueShutDown(self.name)
            if self._due:
                self.poll()
            if self._queue:
                key = self._queue.popleft()
                self._dirty.discard(key)
                self._processing.add(key)
                return key
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._getters:
                    self._getters.remove(waiter)

    def done(self, key: str) -> None:
        """Finish processing `key`; if it was re-added meanwhile, queue it again."""
        self._processing.discard(key)
        if key in self._dirty and not self._shutdown:
            self._queue.append(key)
            self._wake()

    def shutdown(self) -> None:
        """Stop handing out keys: pending and future get() raise QueueShutDown."""
        self._shutdown = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()
        self._due.clear()
        self._wake()

    def _wake(self) -> None:
        # Wake every getter: each re-checks the queue, so a getter cancelled
        # right after being woken can never strand a key.
        getters, self._getters = self._getters, []
        for waiter in getters:
            if not waiter.done():
                waiter.set_result(None)


async def run_workers(queue: WorkQueue, reconcile: Callable[[str], Awaitable[None]], workers: int = 2) -> None:
    """Run `workers` loops of get -> reconcile -> done until the queue shuts down.

    Success forgets the key's back-off -- unless the reconcile itself asked for
    a rate-limited requeue (`add_rate_limited`: "not done yet, look again
    later, each time a little later"), which keeps it growing; an exception is logged and the key is
    requeued rate-limited. Conflicts are routine under concurrency and logged
    quietly; an unavailable or timed-out apiserver (restarting, overloaded) is
    expected too, so a warning without a traceback. Cancelling this coroutine
    cancels the workers.
    """

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            requeues = queue.num_requeues(key)
            try:
                await reconcile(key)
            except asyncio.CancelledError:
                raise
            except Conflict as exc:
                log.debug("%s: conflict reconciling %s, requeued: %s", queue.name, key, exc)
                queue.add_rate_limited(key)
            except (ServiceUnavailable, Timeout) as exc:
                delay = queue.add_rate_limited(key)
                log.warning("apiserver unavailable; will retry",
                            extra={"queue": queue.name, "key": key, "retry_in": delay, "error": str(exc)})
            except Exception:
                delay = queue.add_rate_limited(key)
                log.exception("%s: reconciling %s failed; retry in %.3fs", queue.name, key, delay)
            else:
                if queue.num_requeues(key) <= requeues:
                    queue.forget(key)
            finally:
                queue.done(key)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, workers)):
            group.create_task(worker())

"""WorkQueue: dedupe, one worker per key, delayed and rate-limited adds, shutdown;
run_workers: retries with back-off, never reconciles a key concurrently."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import uvloop

from kubelite.api.errors import Conflict, ServiceUnavailable
from kubelite.client import QueueShutDown, WorkQueue, run_workers


async def eventually(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def test_adds_are_deduplicated_and_fifo() -> None:
    q = WorkQueue("t")
    for key in ["a", "b", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(q) == 0


async def test_key_is_never_handed_out_twice_at_once() -> None:
    q = WorkQueue("t")
    q.add("a")
    assert await q.get() == "a"
    q.add("a")  # re-added while processing: held back
    q.add("a")
    assert len(q) == 0
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.done("a")  # now it is handed out again, once
    assert await asyncio.wait_for(waiter, 1) == "a"
    q.done("a")
    assert len(q) == 0


async def test_done_without_readd_drops_the_key() -> None:
    q = WorkQueue("t")
    q.add("a")
    await q.get()
    q.done("a")
    assert len(q) == 0


async def test_rate_limited_backoff_is_exponential_capped_and_forgettable() -> None:
    q = WorkQueue("t", base_delay=0.001, max_delay=0.004)
    delays = [q.add_rate_limited("a") for _ in range(4)]
    assert delays == [0.001, 0.002, 0.004, 0.004]
    assert q.num_requeues("a") == 4
    assert q.add_rate_limited("b") == 0.001  # per key
    q.forget("a")
    assert q.num_requeues("a") == 0
    assert q.add_rate_limited("a") == 0.001
    # The pending delayed adds collapse into one hand-out per key.
    got = {await asyncio.wait_for(q.get(), 1), await asyncio.wait_for(q.get(), 1)}
    assert got == {"a", "b"}
    assert len(q) == 0


async def test_add_after_delays_and_earliest_deadline_wins() -> None:
    q = WorkQueue("t")
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("a", 60)
    q.add_after("a", 0.02)  # earlier: replaces the 60 s timer
    q.add_after("a", 30)  # later: ignored
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 2) == "a"
    assert loop.time() - start >= 0.02
    q.done("a")
    q.add_after("b", 0)  # no delay: immediate
    assert len(q) == 1


async def test_shutdown_wakes_getters_and_cancels_timers() -> None:
    q = WorkQueue("t")
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    q.add_after("later", 0.01)
    await asyncio.sleep(0)
    q.shutdown()
    for g in getters:
        with pytest.raises(QueueShutDown):
            await asyncio.wait_for(g, 1)
    q.add("x")
    assert len(q) == 0
    with pytest.raises(QueueShutDown):
        await q.get()
    assert q.shutting_down


async def test_cancelled_getter_does_not_strand_a_key() -> None:
    q = WorkQueue("t")
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("a")
    first.cancel()  # woken, but cancelled before it could take the key
    assert await asyncio.wait_for(second, 1) == "a"


async def test_run_workers_retries_with_backoff_and_forgets_on_success() -> None:
    q = WorkQueue("t", base_delay=0.001, max_delay=0.01)
    attempts: list[str] = []
    succeeded = asyncio.Event()

    async def reconcile(key: str) -> None:
        attempts.append(key)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        if len(attempts) == 2:
            raise Conflict("stale")
        succeeded.set()

    runner = asyncio.create_task(run_workers(q, reconcile, workers=2))
    q.add("ns/a")
    await asyncio.wait_for(succeeded.wait(), 5)
    await eventually(lambda: q.num_requeues("ns/a") == 0, what="forget after success")
    assert attempts == ["ns/a"] * 3
    q.shutdown()
    await asyncio.wait_for(runner, 5)  # returns once the queue is shut down


async def test_run_workers_never_reconcile_one_key_concurrently() -> None:
    q = WorkQueue("t")
    in_flight: set[str] = set()
    overlaps: list[str] = []
    count: dict[str, int] = {}
    release = asyncio.Event()

    async def reconcile(key: str) -> None:
        if key in in_flight:
            overlaps.append(key)
        in_flight.add(key)
        count[key] = count.get(key, 0) + 1
        await release.wait()
        in_flight.discard(key)

    runner = asyncio.create_task(run_workers(q, reconcile, workers=4))
    q.add("a")
    q.add("b")
    await eventually(lambda: in_flight == {"a", "b"}, what="both keys in flight")
    for _ in range(5):
        q.add("a")  # all while "a" is being processed
    for _ in range(20):  # give idle workers every chance to (wrongly) take "a"
        await asyncio.sleep(0)
    assert overlaps == [] and count == {"a": 1, "b": 1}
    release.set()
    await eventually(lambda: count.get("a") == 2, what="a reconciled once more")
    await eventually(lambda: not in_flight and len(q) == 0, what="idle")
    assert overlaps == [] and count == {"a": 2, "b": 1}
    q.shutdown()
    await asyncio.wait_for(runner, 5)


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_delays_follow_the_injected_clock_not_real_time() -> None:
    clock = FakeClock()
    q = WorkQueue("t", clock=clock)  # no event loop: poll() promotes due keys
    q.add_after("a", 60)
    q.add_after("b", 10)
    q.add_after("a", 5)  # earlier deadline wins
    q.add_after("b", 30)  # later one is ignored
    assert q.poll() == 0 and len(q) == 0
    clock.advance(4.9)
    assert q.poll() == 0 and len(q) == 0
    clock.advance(0.1)
    assert q.poll() == 1 and len(q) == 1  # "a" at 5 s; its superseded 60 s deadline is dropped
    clock.advance(5)
    assert q.poll() == 1 and len(q) == 2  # "b" at 10 s
    clock.advance(100)
    assert q.poll() == 0 and len(q) == 2


async def test_rate_limited_backoff_on_a_fake_clock() -> None:
    clock = FakeClock()
    q = WorkQueue("t", base_delay=1.0, max_delay=4.0, clock=clock)
    assert [q.add_rate_limited("a") for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    assert q.poll() == 0
    clock.advance(1.0)  # the earliest deadline (1 s) wins over the later ones
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    clock.advance(10)
    assert q.poll() == 0 and len(q) == 0  # one hand-out per key, however many delayed adds
    q.add_after("b", 3)
    q.shutdown()
    clock.advance(3)
    assert q.poll() == 0 and len(q) == 0  # shutdown drops delayed keys


async def test_transient_apiserver_errors_use_the_queue_backoff() -> None:
    q = WorkQueue("t", base_delay=0.001, max_delay=0.01)
    attempts = 0
    done = asyncio.Event()

    async def reconcile(key: str) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ServiceUnavailable("apiserver restarting")
        done.set()

    runner = asyncio.create_task(run_workers(q, reconcile))
    q.add("k")
    await asyncio.wait_for(done.wait(), 5)
    await eventually(lambda: q.num_requeues("k") == 0, what="forget after success")
    assert attempts == 3
    q.shutdown()
    await asyncio.wait_for(runner, 5)


async def test_a_reconcile_that_requeues_itself_rate_limited_keeps_its_backoff() -> None:
    q = WorkQueue("t", base_delay=0.001, max_delay=0.01)
    seen: list[int] = []
    done = asyncio.Event()

    async def reconcile(key: str) -> None:
        seen.append(q.num_requeues(key))
        if len(seen) < 3:
            q.add_rate_limited(key)  # "not finished; look again later" without an error
        else:
            done.set()

    runner = asyncio.create_task(run_workers(q, reconcile))
    q.add("ns")
    await asyncio.wait_for(done.wait(), 5)
    await eventually(lambda: q.num_requeues("ns") == 0, what="forget once finished")
    assert seen == [0, 1, 2]  # the back-off grew across the passes
    q.shutdown()
    await asyncio.wait_for(runner, 5)


@pytest.mark.parametrize("new_loop", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_a_delayed_key_wakes_its_timer_about_once(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    """uvloop's timers count whole milliseconds and fire up to one early by `time.monotonic`: the
    queue re-armed for the crumb left and spun (~20 firings per delayed key, CPU for nothing in
    every controller's requeue-after)."""
    firings = 0

    async def run() -> None:
        nonlocal firings
        q = WorkQueue("t")
        on_timer = q._on_timer

        def counted() -> None:
            nonlocal firings
            firings += 1
            on_timer()

        q._on_timer = counted  # type: ignore[method-assign]
        for i in range(20):
            q.add_after(f"k{i}", 0.0123 + i * 0.0007)
            key = await asyncio.wait_for(q.get(), 5.0)
            q.done(key)

    loop = new_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    assert firings <= 40

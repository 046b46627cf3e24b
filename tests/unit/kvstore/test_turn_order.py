"""What the speed work of issue 20 must keep: a leader's appends leave before its own fsync
(so the fsyncs overlap), ReadIndex rounds are paced only under concurrent reads, and a
lone request is never held back by a batching window."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kvstore.raft import Entry, HardState, Message, MsgType
from kvstore.reads import ReadIndexQueue
from tests.unit.kvstore.test_cluster import NAMES, Cluster, put


@pytest.fixture
async def slow_window_cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A batching window far longer than the request timeout: any wait on it fails a request."""
    c = Cluster(tmp_path, batch_window=30.0)
    try:
        await asyncio.gather(*(c.start(n) for n in NAMES))
        yield c
    finally:
        await c.close()


async def test_leader_sends_appends_before_its_own_wal_write(slow_window_cluster: Cluster) -> None:
    leader = await slow_window_cluster.wait_leader()
    await leader.propose(put(b"warm-up"))  # both followers' progress past probing
    events: list[tuple[str, int]] = []
    transport, wal = leader.transport, leader._wal
    assert wal is not None
    send, save = transport.send, wal.save

    def record_send(messages: list[Message], at_once: bool = True) -> None:
        events.extend(("app", e.index) for m in messages if m.type == MsgType.APP for e in m.entries)
        send(messages, at_once)

    def record_save(hs: HardState | None, entries: list[Entry], sync: bool) -> None:
        events.extend(("save", e.index) for e in entries)
        save(hs, entries, sync)

    transport.send = record_send  # type: ignore[method-assign]
    wal.save = record_save  # type: ignore[method-assign]
    await leader.propose(put(b"k"))
    saved = [i for kind, i in events if kind == "save"]
    assert saved, events
    index = saved[-1]
    # Both followers got the entry before the leader started writing it.
    assert events.index(("save", index)) > max(
        n for n, ev in enumerate(events) if ev == ("app", index))
    assert [ev for ev in events if ev == ("app", index)] == [("app", index)] * 2


async def test_the_leader_writes_commit_notices_after_its_answered_requests_handler(
        slow_window_cluster: Cluster) -> None:
    """The Ready that commits (and answers) a lone put also carries the commit notices to the
    followers; they are written once the loop has run the put's handler, not before it (a
    client's reply waited ~0.3 ms behind two peer-stream writes). Appends go out at once."""
    leader = await slow_window_cluster.wait_leader()
    await leader.propose(put(b"warm-up"))
    transport, send = leader.transport, leader.transport.send
    sends: list[tuple[str, bool]] = []

    def record_send(messages: list[Message], at_once: bool = True) -> None:
        kinds = {"append" if m.entries else "notice" for m in messages if m.type == MsgType.APP}
        sends.extend((kind, at_once) for kind in sorted(kinds))
        send(messages, at_once)

    transport.send = record_send  # type: ignore[method-assign]
    await leader.propose(put(b"k"))
    assert ("append", True) in sends and ("notice", False) in sends, sends
    assert ("append", False) not in sends and ("notice", True) not in sends, sends


async def test_lone_requests_never_wait_for_the_batching_window(slow_window_cluster: Cluster) -> None:
    # The window is 30 s and requests time out after 3 s: one waiting on it would fail.
    await slow_window_cluster.wait_leader()
    for node in slow_window_cluster.nodes.values():
        for i in range(5):
            await node.linearizable_read()
            await node.propose(put(b"lone%d" % i))


async def test_a_busy_phase_that_ended_does_not_slow_lone_requests(tmp_path: Path) -> None:
    # As after a burst of puts: the last turn of each member applied many requests. A turn
    # waits out the window at most once for that, not every turn from then on.
    c = Cluster(tmp_path, batch_window=0.5)
    try:
        await asyncio.gather(*(c.start(n) for n in NAMES))
        await c.wait_leader()
        for node in c.nodes.values():
            node.core.applied_last_turn = 10_000
        loop = asyncio.get_running_loop()
        start = loop.time()
        for node in c.nodes.values():
            for _ in range(4):
                await node.linearizable_read()  # 2-3 turns each: ~1.5 s per read if every turn waited
        assert loop.time() - start < 5.0
    finally:
        await c.close()


def test_read_rounds_are_paced_only_after_a_round_carried_several_reads() -> None:
    q = ReadIndexQueue()

    class Raw:
        def read_index(self, ctx: bytes) -> None:
            pass

    loop = asyncio.new_event_loop()
    try:
        fut = loop.create_future
        assert q.due_in(0.0, 0.004, 24) is None  # nothing queued
        q.new.append(fut())
        assert q.due_in(0.0, 0.004, 24) == 0.0  # the first read goes at once
        q.send_new(Raw(), 1, 0, now=10.0)  # type: ignore[arg-type]
        q.new.append(fut())
        assert q.due_in(10.0, 0.004, 24) is None  # one round at a time
        q.sent.clear()
        assert q.due_in(10.0, 0.004, 24) == 0.0  # the last round carried one read: a lone reader
        q.new += [fut(), fut()]
        q.send_new(Raw(), 1, 0, now=20.0)  # type: ignore[arg-type]
        q.sent.clear()
        q.new.append(fut())
        assert q.due_in(20.001, 0.004, 24) == pytest.approx(0.003)  # concurrent readers: paced
        assert q.due_in(20.005, 0.004, 24) == 0.0  # ... for at most the window
        q.new += [fut() for _ in range(23)]
        assert q.due_in(20.001, 0.004, 24) == 0.0  # a full round goes at once
        # uvloop's clock counts whole milliseconds: at the window's end the float sum left a
        # crumb (1.8e-12 here) that the loop armed a timer for and spun on until the clock ticked.
        q.send_new(Raw(), 1, 0, now=9375.529)  # type: ignore[arg-type]
        q.sent.clear()
        q.new += [fut(), fut()]
        assert 9375.529 + 0.004 - 9375.533 > 0
        assert q.due_in(9375.533, 0.004, 24) == 0.0
        assert q.due_in(9375.5325, 0.004, 24) == 0.0  # under a clock tick early: due as well
    finally:
        loop.close()


async def test_a_read_round_that_came_due_meanwhile_wakes_the_loop(slow_window_cluster: Cluster) -> None:
    """The loop looks for work (`_has_work`), finds none, then arms the read timer and sleeps. A
    pacing window that ends between those two looks left a due round with no timer: its reads
    waited for the next message or tick, up to a heartbeat interval (`bench/kvstore.py` ranges
    at 16 in flight: p99 ~80 ms, 2,000-2,400/s; now ~10 ms, ~3,450/s)."""
    node = await slow_window_cluster.wait_leader()
    loop = asyncio.get_running_loop()
    reads = node._reads
    read = loop.create_future()
    # A round of several reads went out a whole window ago; one more read waits for the next.
    reads._last_size, reads._last_sent = 2, loop.time() - node.batch_window
    reads.new.append(read)
    node._wake.clear()
    node._wake_for_reads()
    assert node._wake.is_set()
    await asyncio.wait_for(read, 3.0)

"""An idle follower's tick clock (`kvstore.ticks`), on a fake clock: it no longer wakes every
tick, an election still starts on the same tick when the leader goes silent, and a stall (of
the follower, or of the whole machine) does not start one while the leader is alive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import uvloop

from kvstore.proposals import ProposalQueue
from kvstore.raft import Message
from kvstore.reads import ReadIndexQueue
from kvstore.ticks import Ticker, TickTimer, may_idle
from tests.unit.kvstore.raft.network import Network

ELECTION = 10
TICK_MS = 100
LATENCY_MS = 5


class Cluster:
    """Member 1 leads, member 3 follows; both tick every TICK_MS. Member 2 is driven as
    `KVNode` drives a member: with `lazy`, through a `Ticker` and one timer kept at or before
    `Ticker.at`; without, as before this change, with a timer and a turn on every tick. Its
    messages arrive LATENCY_MS after they were sent; a turn runs on each arrival and on a timer
    firing that asks for one. Time is whole milliseconds."""

    def __init__(self, seed: int, lazy: bool) -> None:
        self.net = Network([1, 2, 3], seed=seed, election_tick=ELECTION)
        self.net.elect(1)
        self.lazy = lazy
        self.ms = 0
        self.ticker = Ticker(TICK_MS / 1000, 0.0)
        self.timer_ms = TICK_MS  # when member 2's timer is armed for
        self.inbox: list[tuple[int, Message]] = []
        self.firings = self.turns = 0
        self.stalled: set[int] = set()  # members whose loop does not run (timers and turns wait)
        self.late_tick: set[int] = set()  # stalled leaders owe their late tick on resuming
        self.campaigned_ms: int | None = None

    @property
    def raft(self):  # type: ignore[no-untyped-def]
        return self.net.node(2).raft

    def silence(self) -> None:
        """The leader (and member 3, so that only member 2 can time out) go away."""
        self.net.down |= {1, 3}

    def stall(self, ids: set[int]) -> None:
        self.stalled = set(ids)
        self.late_tick = ids & {1}

    def resume(self) -> None:
        self.stalled = set()

    def run(self, until_ms: int) -> None:
        while self.ms < until_ms:
            self.ms += 1
            self._step()

    def _step(self) -> None:
        boundary = self.ms % TICK_MS == 0
        if 1 in self.late_tick and 1 not in self.stalled:
            self.late_tick.discard(1)
            self._tick_others([1])  # a late timer firing is one tick
        elif boundary:
            self._tick_others([i for i in (1, 3) if i not in self.stalled])
        if 2 in self.stalled:
            return
        arrived = any(t <= self.ms for t, _ in self.inbox)
        if self.lazy:
            run = False
            if self.timer_ms <= self.ms:
                self.firings += 1
                run = self.ticker.fire(self.raft, self.timer_ms / 1000, self.ms / 1000)
                self.timer_ms = self._at()
            if arrived or run or self.ticker.due():
                self._turn()
        elif self.timer_ms <= self.ms:  # the ticker as it was: one firing, one tick, one turn
            self.firings += 1
            self.timer_ms = self.ms + TICK_MS
            self.ticker.ticks += 1
            self._turn()
        elif arrived:
            self._turn()

    def _at(self) -> int:
        return round(self.ticker.at * 1000 + 0.4999)  # the first whole ms at or after `at`

    def _tick_others(self, ids: list[int]) -> None:
        for i in ids:
            if i not in self.net.down:
                self.net.node(i).tick()
        self._pump()

    def _pump(self) -> None:
        net = self.net
        moved = True
        while moved:
            moved = False
            for i in (1, 3):
                while net.process_ready(i):
                    moved = True
            while net.queue:
                moved = True
                m = net.queue.popleft()
                if m.to == 2:
                    if m.frm not in net.down:
                        self.inbox.append((self.ms + LATENCY_MS, m))
                else:
                    net.deliver(m)

    def _turn(self) -> None:
        self.turns += 1
        arrived = [m for t, m in self.inbox if t <= self.ms]
        self.inbox = [(t, m) for t, m in self.inbox if t > self.ms]
        node = self.net.node(2)

        def step() -> None:
            for m in arrived:
                node.step(m)

        self.ticker.feed(self.raft, self.ms / 1000, bool(arrived), node.tick, step, ELECTION)
        while self.net.process_ready(2):
            pass
        if self.lazy:
            self.ticker.settle(self.raft, may_idle(self.raft, ProposalQueue(), ReadIndexQueue()), self.ms / 1000)
            self.timer_ms = min(self.timer_ms, self._at())
        if self.raft.role != "follower" and self.campaigned_ms is None:
            self.campaigned_ms = self.ms
        self._pump()


def _campaign_after_silence(seed: int, lazy: bool) -> int:
    c = Cluster(seed, lazy)
    c.run(5_030)  # heartbeats for 5 s, then silence between two of them
    c.silence()
    c.run(10_000)
    assert c.campaigned_ms is not None, "member 2 never campaigned"
    return c.campaigned_ms - 5_030


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_silent_leader_is_timed_out_on_the_same_tick(seed: int) -> None:
    eager = _campaign_after_silence(seed, lazy=False)
    assert ELECTION * TICK_MS - TICK_MS <= eager < 2 * ELECTION * TICK_MS
    assert _campaign_after_silence(seed, lazy=True) == eager


@pytest.mark.parametrize("lazy", [False, True])
def test_a_follower_hearing_its_leader_wakes_for_the_heartbeats_only(lazy: bool) -> None:
    c = Cluster(3, lazy)
    c.run(10_000)
    assert c.raft.role == "follower" and c.campaigned_ms is None
    if lazy:  # one firing per election timeout (at least ELECTION - 1 ticks) instead of one per tick,
        # and the first, before the member knew it had a leader
        assert c.firings <= 10_000 // ((ELECTION - 1) * TICK_MS) + 1
        assert c.turns <= 10_000 // TICK_MS + c.firings  # a turn per heartbeat, none per tick
    else:
        assert c.firings == 10_000 // TICK_MS


@pytest.mark.parametrize("seed", range(1, 5))
def test_a_stalled_follower_reads_the_waiting_heartbeats_before_it_counts_its_clock(seed: int) -> None:
    c = Cluster(seed, lazy=True)
    c.run(2_050)
    c.stall({2})  # 3 s: thirty ticks pass, thirty heartbeats wait
    c.run(5_050)
    c.resume()
    c.run(5_051)
    assert c.campaigned_ms is None and c.raft.role == "follower"
    assert c.raft.election_elapsed <= 1
    c.run(8_000)
    assert c.campaigned_ms is None


@pytest.mark.parametrize("seed", range(1, 5))
def test_a_machine_wide_stall_gives_the_leader_a_tick_to_be_heard(seed: int) -> None:
    c = Cluster(seed, lazy=True)
    c.run(2_050)
    c.stall({1, 2, 3})  # nothing runs for 3 s; on resuming, the leader's late tick beats
    c.run(5_050)
    c.resume()
    c.run(8_000)
    assert c.campaigned_ms is None and c.raft.role == "follower"


@pytest.mark.parametrize("seed", range(1, 5))
def test_a_late_timer_delays_an_election_by_at_most_a_tick(seed: int) -> None:
    c = Cluster(seed, lazy=True)
    c.run(2_030)
    c.silence()
    c.stall({2})
    c.run(2_030 + 4 * ELECTION * TICK_MS)  # past any election timeout: the timer fires late
    c.resume()
    c.run(9_000)
    assert c.campaigned_ms is not None
    assert c.campaigned_ms <= 2_030 + 4 * ELECTION * TICK_MS + TICK_MS


def test_only_a_follower_of_a_known_leader_with_nothing_waiting_may_idle() -> None:
    net = Network([1, 2, 3], seed=5, election_tick=ELECTION)
    queue, reads = ProposalQueue(), ReadIndexQueue()
    assert not may_idle(net.node(2).raft, queue, reads)  # no leader yet
    net.elect(1)
    assert not may_idle(net.node(1).raft, queue, reads)  # the leader beats
    assert may_idle(net.node(2).raft, queue, reads)
    queue.blocked = True  # a proposal waits for a leader: its retry is tick-driven
    assert not may_idle(net.node(2).raft, queue, reads)


@pytest.mark.parametrize("new_loop", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_the_timer_keeps_ticking_when_armed_for_a_time_already_past(
        new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    """A loop that falls behind arms the timer for a moment already gone. uvloop answers that
    with a plain `Handle` (no `when()`); the timer once asked it for its time, raised inside the
    callback and stopped the member's Raft loop, leaving a member that believed itself leader."""
    net = Network([1, 2, 3], seed=3, election_tick=ELECTION)
    net.elect(1)
    errors: list[dict[str, object]] = []
    firings: list[bool] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        settled = asyncio.Event()

        def error(_loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
            errors.append(context)
            settled.set()

        def fired(run: bool) -> None:
            firings.append(run)
            if len(firings) >= 3:
                settled.set()

        loop.set_exception_handler(error)
        timer = TickTimer(0.01, lambda: net.node(1).raft, fired)
        timer.restart()
        timer.ticker.at = loop.time() - 1.0  # the loop stalled past the tick
        timer.arm()
        try:
            await asyncio.wait_for(settled.wait(), 5)
        finally:
            timer.cancel()

    loop = new_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    assert errors == []
    assert firings[:3] == [True, True, True]  # a leader's timer ticks on every firing

"""When a member's Raft loop hears of its clock: a timer every tick, or one per election timeout.

Why: an idle follower's only tick-driven output is an election, yet its ticker woke the process
ten times a second (100 ms ticks) besides the ten heartbeats that wake it anyway; on an idle
cluster that was a third of a follower's wake-ups. The Raft core keeps its tick semantics
(`Raft.tick`, `election_elapsed`); what changes is *when* the driver hands ticks over, decided
after every loop turn (`Ticker.settle`):

- eager: the timer fires every tick interval and each firing is one tick, handed to Raft before
  the next turn's messages. A firing that comes late (the loop stalled) is still one tick, as a
  stalled member must not count the time it did not run. A leader (heartbeats, check-quorum),
  a candidate, a follower without a leader, and a member with proposals or reads waiting, a
  blocked queue or a leadership hand-off under way: all have tick-driven work (`may_idle`).
- lazy: a follower hearing its leader with nothing waiting. The timer is armed only for the
  tick at which its election clock would run out (`randomized_election_timeout`), and every
  turn first hands Raft the tick boundaries that passed since the last turn, by the loop's
  clock, in the order they happened (before the turn's messages). Heartbeats restart the
  election clock meanwhile, so the timer fires about once per election timeout, finds the
  deadline moved and is armed again.

A stall must not look like a silent leader (the reason a first attempt was shelved: a member
whose loop stalled for seconds counted many ticks at once and campaigned before reading the
heartbeats waiting in its socket). Two guards:

1. ticks handed before a turn's messages never start an election: those messages may be the
   leader's heartbeats that waited while the loop stalled. Such ticks are handed after the
   messages instead, and dropped if a message restarted the election clock (they are older).
2. only the timer starts an election, and only a timer that fired on time. One that fired a
   tick or more late (the loop, or the whole machine with the leader on it, was stalled) waits
   one more tick first: a leader that stalled with us sends a heartbeat on its first (late)
   tick, as it did when every member counted its timer's firings.

So an election starts on the same tick as with a turn per tick whenever the loop runs on
time, and at most one tick later after a stall.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kvstore.proposals import ProposalQueue
from kvstore.raft import NONE
from kvstore.raft.core import Raft
from kvstore.reads import ReadIndexQueue

_EPS = 1e-6
"""Tolerance, in ticks, for tick boundaries computed by float additions."""


def may_idle(raft: Raft, queue: ProposalQueue, reads: ReadIndexQueue) -> bool:
    """Whether the member's only tick-driven output is an election (lazy mode): a follower of a
    known leader with no proposal, read (and its deadline) or hand-off waiting."""
    busy = queue.waiters or queue.conf_waiters or queue.blocked or reads.sent or reads.new or reads.ready
    return not busy and raft.role == "follower" and raft.lead != NONE and raft.pending_timeout_now is None


class Ticker:
    """The member's tick clock (module doc). Pure: the node passes the loop's time in and keeps
    one timer armed at or before `at`."""

    def __init__(self, interval: float, now: float) -> None:
        self.interval = interval
        self.lazy = False
        self.at = now + interval
        """When the timer must fire next (eager: the next tick; lazy: the election deadline)."""
        self.ticks = 0
        """Eager: firings not yet handed to Raft."""
        self.election = False
        """Lazy: the timer found the election clock run out (guard 2 passed)."""
        self._next = self.at
        """Lazy: the first tick boundary not yet handed to Raft."""
        self._grace = False

    def due(self) -> bool:
        """Whether the loop must run a turn for its clock."""
        return self.ticks > 0 or self.election

    def _passed(self, now: float) -> int:
        """Lazy: tick boundaries passed by `now` and not yet handed."""
        if now + _EPS * self.interval < self._next:
            return 0
        return int((now - self._next) / self.interval + _EPS) + 1

    def _boundary(self, k: int) -> float:
        """Lazy: the time of the k-th boundary not yet handed (k >= 1)."""
        return self._next + (k - 1) * self.interval

    def _deadline(self, raft: Raft) -> float:
        return self._boundary(max(1, raft.randomized_election_timeout - raft.election_elapsed))

    def fire(self, raft: Raft, scheduled: float, now: float) -> bool:
        """The timer, armed for `scheduled`, fired at `now`: whether the loop must run now."""
        now = max(now, scheduled)
        if scheduled + _EPS * self.interval < self.at:
            return False  # armed early (before the deadline moved): just re-arm at `at`
        if not self.lazy:
            self.ticks += 1
            self.at = now + self.interval
            return True
        passed = self._passed(now)
        if raft.election_elapsed + passed < raft.randomized_election_timeout:
            self._grace = False  # heartbeats restarted the election clock meanwhile
            self.at = self._deadline(raft)
            return False
        if now - scheduled >= self.interval and not self._grace:
            self._grace = True  # guard 2: late, so the loop (maybe the machine) stalled
            self.at = self._boundary(passed + 1)
            return False
        self._grace = False
        self.election = True
        self.at = self._boundary(passed + 1)  # the turn it wakes settles the next one
        return True

    def feed(self, raft: Raft, now: float, waiting: bool, tick: Callable[[], None],
             step: Callable[[], None], cap: int) -> int:
        """Hand Raft the ticks due (`tick`, at most `cap` eager ones) around this turn's messages
        (`step`; `waiting`: there are some); returns the number of ticks handed."""
        if not self.lazy:
            n, self.ticks = min(self.ticks, cap), 0
            for _ in range(n):
                tick()
            step()
            return n
        passed, start = self._passed(now), self._next
        room = max(0, raft.randomized_election_timeout - raft.election_elapsed - 1)
        first = passed if self.election and not waiting else min(passed, room)  # guards 1 and 2
        n = _hand(raft, first, tick)
        mark, term = raft.election_elapsed, raft.term
        step()
        restarted = raft.election_elapsed < mark or raft.term != term or raft.role != "follower"
        if not restarted and self.election:
            n += _hand(raft, passed - n, tick)
        if restarted or self.election:
            # Older than a restarted election clock, or after a campaign, whose clock runs anew.
            self._next = start + passed * self.interval
        else:
            self._next = start + n * self.interval  # withheld at the election point (guard 2)
        self.election = False
        return n

    def settle(self, raft: Raft, lazy: bool, now: float) -> None:
        """After a turn: the mode for what the member now is (`may_idle`), and when to fire."""
        if lazy and not self.lazy and self.ticks == 0:
            self.lazy, self._next, self._grace, self.election = True, self.at, False, False
        elif not lazy and self.lazy:
            # Ticks withheld at the election point (guard 2) are dropped: the next tick decides.
            self.lazy, self.ticks, self.election = False, 0, False
            self.at = self._boundary(self._passed(now) + 1)
        if self.lazy and not self._grace:
            self.at = self._deadline(raft)


class TickTimer:
    """The member's one tick timer on the event loop, kept armed at or before `Ticker.at`: an
    idle follower's deadline moves with every heartbeat, and its timer, left early, re-arms
    when it fires instead of on every turn."""

    def __init__(self, interval: float, raft: Callable[[], Raft], fired: Callable[[bool], None]) -> None:
        self.ticker = Ticker(interval, 0.0)
        self._raft = raft
        self._fired = fired
        """Called on every firing with whether the loop must run (eager ticks run every tick)."""
        self._handle: asyncio.Handle | None = None
        self._armed_at = 0.0
        """The loop time `_handle` was armed for. Kept here, not read back from the handle: uvloop
        answers `call_at` for a time already past with a plain `Handle`, which has no `when()`
        (the first tick timer asked it, raised, and stopped a member's Raft loop)."""

    def restart(self) -> None:
        """A fresh clock: at start, and for a member rebuilt after a disk fault (the ticks of the
        outage are not counted: it waits a full election timeout)."""
        self.ticker = Ticker(self.ticker.interval, asyncio.get_running_loop().time())
        self.arm()

    def arm(self) -> None:
        handle, at = self._handle, self.ticker.at
        if handle is not None:
            if self._armed_at <= at:
                return
            handle.cancel()
        self._armed_at = at
        self._handle = asyncio.get_running_loop().call_at(at, self._fire)

    def settle(self, lazy: bool) -> None:
        """After a loop turn (`Ticker.settle`)."""
        self.ticker.settle(self._raft(), lazy, asyncio.get_running_loop().time())
        self.arm()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._fired(self.ticker.fire(self._raft(), self._armed_at, asyncio.get_running_loop().time()))
        self.arm()


def _hand(raft: Raft, k: int, tick: Callable[[], None]) -> int:
    """Hand up to `k` ticks to a follower, stopping at the one that starts a campaign."""
    n = 0
    while n < k and raft.role == "follower":
        tick()
        n += 1
    return n

"""The leader's bookkeeping per follower: how far it matches, what to send next.

Why three states (as in etcd raft): in PROBE the leader sends one append at a
time until it finds where the logs agree (so a lagging follower is not flooded
with appends it will reject); in REPLICATE it streams optimistically, bounded by
an inflight window so a slow follower cannot make the leader buffer without
limit; in SNAPSHOT it waits for an InstallSnapshot to finish. Pure data: no
messages are sent from here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from kvstore.raft.types import ProgressStateName, ProgressStatus

PROBE: ProgressStateName = "probe"
REPLICATE: ProgressStateName = "replicate"
SNAPSHOT: ProgressStateName = "snapshot"


class Inflights:
    """Last indexes of the appends sent but not yet acknowledged, oldest first."""

    __slots__ = ("size", "_q")

    def __init__(self, size: int) -> None:
        self.size = size
        self._q: deque[int] = deque()

    def add(self, last_index: int) -> None:
        self._q.append(last_index)

    def free_le(self, index: int) -> None:
        """Forget every append whose last entry is <= index (acknowledged)."""
        q = self._q
        while q and q[0] <= index:
            q.popleft()

    def free_first_one(self) -> None:
        if self._q:
            self._q.popleft()

    def full(self) -> bool:
        return len(self._q) >= self.size

    def count(self) -> int:
        return len(self._q)

    def reset(self) -> None:
        self._q.clear()


class Progress:
    """What the leader knows about one member's log."""

    __slots__ = ("match", "next", "state", "pending_snapshot", "recent_active", "probe_sent", "inflights",
                 "snapshot_rounds")

    def __init__(self, next_index: int, max_inflight: int, match: int = 0) -> None:
        self.match = match
        self.next = next_index
        self.state: ProgressStateName = PROBE
        self.pending_snapshot = 0
        self.recent_active = False
        self.probe_sent = False
        self.inflights = Inflights(max_inflight)
        self.snapshot_rounds = 0
        """Election timeouts spent in SNAPSHOT; a safety net if the transport never reports."""

    def _reset_state(self, state: ProgressStateName) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()
        self.snapshot_rounds = 0

    def become_probe(self) -> None:
        """After a snapshot, resume right after it (the follower has at least that)."""
        if self.state == SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, n: int) -> bool:
        """An append up to n was accepted; False when the ack is stale."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.probe_sent = False
        if self.next < n + 1:
            self.next = n + 1
        return updated

    def sent_entries(self, last_index: int) -> None:
        """Record an append carrying entries up to last_index."""
        if self.state == REPLICATE:
            self.next = last_index + 1
            self.inflights.add(last_index)
        elif self.state == PROBE:
            self.probe_sent = True

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """An append at `rejected` was refused; back off next. False when the
        rejection is stale (an older message overtaken by progress)."""
        if self.state == REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1, 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        if self.state == PROBE:
            return self.probe_sent
        if self.state == REPLICATE:
            return self.inflights.full()
        return True

    def status(self) -> ProgressStatus:
        return ProgressStatus(self.match, self.next, self.state, self.recent_active, self.is_paused(),
                              self.pending_snapshot, self.inflights.count())


def expire_snapshots(prs: Iterable[Progress], rounds: int) -> None:
    """Called once per election timeout on the leader: a snapshot whose delivery was
    never reported (a transport that lost it without calling report_snapshot) must
    not stall that follower forever, so after `rounds` it counts as failed."""
    for pr in prs:
        if pr.state == SNAPSHOT:
            pr.snapshot_rounds += 1
            if pr.snapshot_rounds >= rounds:
                pr.pending_snapshot = 0
                pr.become_probe()

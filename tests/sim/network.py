"""The simulated network between Raft members: loss, delay, reordering, duplication, partitions.

Why its own module: every message of a run passes through one `Network`, whose only source
of randomness is the run's `random.Random`, so a seed fixes exactly which message is lost,
duplicated or delayed by how much. Partitions are sets of blocked *directed* links, so an
asymmetric partition (A hears B, B does not hear A) is just one direction blocked.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from kvstore.raft.types import Message, MsgType


@dataclass
class NetParams:
    """Current fault levels; the fault injector changes them during a run."""

    loss: float = 0.0
    duplicate: float = 0.0
    min_delay: int = 1
    max_delay: int = 3
    """Delays are whole steps in [min_delay, max_delay]: different delays reorder messages."""


@dataclass
class NetStats:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    blocked: int = 0


class Network:
    """Messages in flight, ordered by (due step, send order)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.params = NetParams()
        self.blocked: set[tuple[int, int]] = set()
        self.stats = NetStats()
        self._queue: list[tuple[int, int, Message]] = []  # (due step, send order, message)
        self._seq = 0

    # ------------------------------------------------------------ partitions
    def partition(self, groups: list[set[int]]) -> None:
        """Block every link between different groups (both directions)."""
        self.blocked = {(a, b) for g in groups for h in groups if g is not h for a in g for b in h}

    def block_one_way(self, frm: int, to: int) -> None:
        self.blocked.add((frm, to))

    def isolate(self, node: int, members: list[int]) -> None:
        for other in members:
            if other != node:
                self.blocked.add((node, other))
                self.blocked.add((other, node))

    def heal(self) -> None:
        self.blocked.clear()
        self.params = NetParams()

    def is_blocked(self, frm: int, to: int) -> bool:
        return (frm, to) in self.blocked

    # ------------------------------------------------------------ sending
    def send(self, msg: Message, now: int) -> bool:
        """Queue `msg` (maybe twice); False when it is lost or blocked at send time."""
        self.stats.sent += 1
        if (msg.frm, msg.to) in self.blocked:
            self.stats.blocked += 1
            return False
        p = self.params
        if p.loss and self.rng.random() < p.loss:
            self.stats.dropped += 1
            return False
        copies = 2 if p.duplicate and self.rng.random() < p.duplicate else 1
        if msg.type == MsgType.PROP:
            # A forwarded proposal travels once: the peer transport is a stream that never
            # resends, and the member core (like etcd) does not de-duplicate request ids.
            copies = 1
        if copies == 2:
            self.stats.duplicated += 1
        for _ in range(copies):
            delay = self.rng.randint(p.min_delay, p.max_delay)
            self._seq += 1
            heapq.heappush(self._queue, (now + delay, self._seq, msg))
        return True

    def due(self, now: int) -> tuple[list[Message], list[Message]]:
        """(arriving at step `now` in a random order, dropped because their link got blocked)."""
        out: list[Message] = []
        lost: list[Message] = []
        q = self._queue
        while q and q[0][0] <= now:
            m = heapq.heappop(q)[2]
            if (m.frm, m.to) in self.blocked:
                self.stats.blocked += 1
                lost.append(m)
                continue
            out.append(m)
        if len(out) > 1:
            self.rng.shuffle(out)
        self.stats.delivered += len(out)
        return out, lost

    def in_flight(self) -> int:
        return len(self._queue)

    def drop_all_to(self, node: int) -> None:
        """Forget messages to a member that leaves the cluster for good."""
        self._queue = [f for f in self._queue if f[2].to != node]
        heapq.heapify(self._queue)

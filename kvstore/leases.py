"""Lease expiry: the clock side of leases, kept outside the state machine.

Why split: which leases exist, their TTLs and their keys are replicated state
(`MVCCStore.leases`, changed only by logged grant/revoke entries). *When* a lease
expires is a wall-clock decision that only the leaseholder (this member; the
Raft leader later) makes: it notices the deadline passed and proposes an
ordinary `LeaseRevoke` entry, so replaying the log never depends on time.
Keep-alives only move the in-memory deadline, as in etcd; after a restart (or a
leader change) every lease gets a fresh full TTL.

The clock is injected so tests drive expiry without sleeping.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable

from kvstore import errors
from kvstore.mvcc import MVCCStore

Clock = Callable[[], float]


class Lessor:
    """Deadlines for the leases of one store; answers keep-alive and time-to-live."""

    def __init__(self, store: MVCCStore, clock: Clock = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._deadline: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []
        self._revoking: set[int] = set()
        self.on_sooner: Callable[[], None] | None = None
        """Called when a deadline earlier than every pending one appears: the expiry loop sleeps
        until the earliest deadline (`kvstore.cluster_ops.LeaseOps.expire_loop`)."""

    @property
    def store(self) -> MVCCStore:
        return self._store

    def rebind(self, store: MVCCStore) -> None:
        """Follow a store that was replaced (snapshot restore) and refresh every lease."""
        self._store = store
        self.refresh_all()

    def refresh_all(self) -> None:
        """Give every lease a full TTL from now (after replay or on becoming leader)."""
        self._deadline.clear()
        self._heap.clear()
        self._revoking.clear()
        for lease_id in self._store.leases:
            self._renew(lease_id)

    def _renew(self, lease_id: int) -> int:
        ttl = self._store.leases[lease_id].ttl
        self._push(self._clock() + ttl, lease_id)
        return ttl

    def _push(self, deadline: float, lease_id: int) -> None:
        self._deadline[lease_id] = deadline
        if self.on_sooner is not None and (not self._heap or deadline < self._heap[0][0]):
            self.on_sooner()
        heapq.heappush(self._heap, (deadline, lease_id))

    def granted(self, lease_id: int) -> None:
        """Start the clock of a lease the store just granted."""
        if lease_id in self._store.leases:
            self._renew(lease_id)

    def forget(self, lease_id: int) -> None:
        """The lease was revoked (by a client or by expiry)."""
        self._deadline.pop(lease_id, None)
        self._revoking.discard(lease_id)
        if len(self._heap) > 2 * len(self._deadline) + 64:
            # Followers never pop expired entries; drop superseded ones so the heap stays bounded.
            self._heap = [(d, i) for d, i in self._heap if self._deadline.get(i) == d]
            heapq.heapify(self._heap)

    def keep_alive(self, lease_id: int) -> int:
        """Renew; returns the TTL, or 0 when the lease is gone (etcd answers TTL 0 then)."""
        if lease_id not in self._store.leases or lease_id in self._revoking:
            return 0
        return self._renew(lease_id)

    def remaining(self, lease_id: int) -> int:
        """Whole seconds left (rounded up, like etcd); raises when the lease is unknown."""
        info = self._store.leases.get(lease_id)
        if info is None:
            raise errors.lease_not_found()
        deadline = self._deadline.get(lease_id)
        if deadline is None:
            return info.ttl
        return max(0, math.ceil(deadline - self._clock()))

    def time_to_live(self, lease_id: int, with_keys: bool) -> tuple[int, int, list[bytes]]:
        """(remaining TTL, granted TTL, attached keys); raises lease_not_found."""
        remaining = self.remaining(lease_id)
        info = self._store.leases[lease_id]
        return remaining, info.ttl, sorted(info.keys) if with_keys else []

    def leases(self) -> list[int]:
        return sorted(self._store.leases)

    def expired(self, limit: int = 1000, now: float | None = None) -> list[int]:
        """Leases whose deadline passed and whose revoke has not been proposed yet.

        The caller proposes a revoke for each and calls `forget` once it is applied
        (or `retry` if the proposal failed). At most `limit` per call, like etcd's
        rate limit on revokes, so expiring a burst cannot starve client writes.
        `now` (default: the injected clock) lets a driver without a clock decide.
        """
        if now is None:
            now = self._clock()
        out: list[int] = []
        while self._heap and self._heap[0][0] <= now and len(out) < limit:
            deadline, lease_id = heapq.heappop(self._heap)
            if self._deadline.get(lease_id) != deadline or lease_id not in self._store.leases:
                continue  # superseded by a keep-alive, or already revoked
            self._revoking.add(lease_id)
            out.append(lease_id)
        return out

    def retry(self, lease_id: int) -> None:
        """A revoke proposal failed; consider the lease again on the next check."""
        self._revoking.discard(lease_id)
        if lease_id in self._store.leases:
            self._push(self._clock(), lease_id)

    def until_next(self) -> float | None:
        """Seconds until the earliest pending deadline (None: none), for the expiry loop's sleep."""
        deadline = self.next_deadline()
        return None if deadline is None else deadline - self._clock()

    def next_deadline(self) -> float | None:
        """Earliest pending deadline (clock units)."""
        while self._heap and self._deadline.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

"""Store leases for objects that expire on their own (Events, after `--event-ttl`).

Why leases and not a sweeper: the store deletes every key attached to a lease
when the lease runs out, in one Raft entry, on whichever member leads; nothing
in the apiserver has to remember what to delete, and an apiserver restart loses
nothing. Why shared leases: a lease per Event would double the writes of the
busiest kind (a grant, then the put). As the Kubernetes apiserver does, a
lease is reused for the objects written within a short window, and granted
that much longer, so every object still lives at least its TTL and at most
TTL + window: the window is 5 % of the TTL, at most a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

REUSE_MAX_SECONDS = 60
REUSE_SHARE = 0.05

Grant = Callable[[int], Awaitable[tuple[int, int]]]
"""`EtcdClient.grant_lease`: TTL seconds -> (lease id, granted TTL)."""


def reuse_window(ttl: int) -> int:
    """How long (seconds) one lease serves the objects of `ttl`: 5 % of it, at most a minute."""
    return min(REUSE_MAX_SECONDS, int(ttl * REUSE_SHARE))


class LeaseManager:
    """Hands out a lease under which an object written now lives at least `ttl` seconds."""

    def __init__(self, grant: Grant, clock: Callable[[], float] = time.monotonic) -> None:
        self._grant = grant
        self._clock = clock
        self._lock = asyncio.Lock()
        self._leases: dict[int, tuple[int, float]] = {}
        """ttl -> (lease id, when that lease expires by our clock, counted from before the grant)."""
        self.granted = 0

    async def lease_for(self, ttl: int) -> int:
        """A lease id whose expiry lies in [now + ttl, now + ttl + window]."""
        async with self._lock:  # concurrent writers share the one grant
            now = self._clock()
            held = self._leases.get(ttl)
            if held is not None and now + ttl <= held[1]:
                return held[0]
            lease_ttl = ttl + reuse_window(ttl)
            lease_id, granted_ttl = await self._grant(lease_ttl)
            # The store counts from when it granted, which is after `now`: `now` keeps the
            # reuse on the safe side, and a longer grant (a store's minimum TTL) only adds.
            self._leases[ttl] = (lease_id, now + max(lease_ttl, granted_ttl))
            self.granted += 1
            return lease_id

    def forget(self, lease_id: int) -> None:
        """The store no longer has `lease_id` (it answered "lease not found"): grant anew next time."""
        self._leases = {ttl: held for ttl, held in self._leases.items() if held[0] != lease_id}

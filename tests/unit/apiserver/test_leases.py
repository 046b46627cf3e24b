"""Shared store leases for expiring objects: every object lives at least its TTL, and a lease
serves the writes of a short window rather than one grant per write."""

from __future__ import annotations

import asyncio

from apiserver.leases import LeaseManager, reuse_window


class FakeStore:
    def __init__(self, clock: list[float], minimum_ttl: int = 0) -> None:
        self.clock = clock
        self.minimum_ttl = minimum_ttl
        self.grants: list[tuple[int, int, float]] = []  # (id, ttl, granted at)

    async def grant(self, ttl: int) -> tuple[int, int]:
        granted = max(ttl, self.minimum_ttl)
        self.grants.append((len(self.grants) + 1, granted, self.clock[0]))
        return len(self.grants), granted

    def expiry(self, lease_id: int) -> float:
        _, ttl, at = self.grants[lease_id - 1]
        return at + ttl


def test_reuse_window_is_five_percent_of_the_ttl_at_most_a_minute() -> None:
    assert reuse_window(3600) == 60 and reuse_window(600) == 30 and reuse_window(86400) == 60
    assert reuse_window(10) == 0


async def test_writes_within_the_window_share_a_lease_and_all_live_their_ttl() -> None:
    clock = [1000.0]
    store = FakeStore(clock)
    leases = LeaseManager(store.grant, clock=lambda: clock[0])
    ttl = 3600
    for step in range(0, 200, 5):  # one write every 5 s for 200 s
        clock[0] = 1000.0 + step
        lease = await leases.lease_for(ttl)
        assert store.expiry(lease) >= clock[0] + ttl  # never shorter than the TTL
        assert store.expiry(lease) <= clock[0] + ttl + reuse_window(ttl)  # nor much longer
    assert len(store.grants) == 4  # 200 s of writes, one lease per 60 s window


async def test_concurrent_writers_share_one_grant() -> None:
    clock = [0.0]
    store = FakeStore(clock)
    leases = LeaseManager(store.grant, clock=lambda: clock[0])
    ids = await asyncio.gather(*(leases.lease_for(3600) for _ in range(20)))
    assert set(ids) == {1} and len(store.grants) == 1


async def test_a_forgotten_lease_is_granted_anew() -> None:
    clock = [0.0]
    store = FakeStore(clock)
    leases = LeaseManager(store.grant, clock=lambda: clock[0])
    first = await leases.lease_for(3600)
    leases.forget(first)
    assert await leases.lease_for(3600) != first


async def test_short_ttls_get_a_lease_each_and_a_longer_grant_is_reused() -> None:
    clock = [0.0]
    store = FakeStore(clock, minimum_ttl=5)  # a store that rounds short TTLs up
    leases = LeaseManager(store.grant, clock=lambda: clock[0])
    first = await leases.lease_for(2)
    clock[0] = 2.5  # the store's 5 s still cover 2.5 + 2
    assert await leases.lease_for(2) == first
    clock[0] = 3.5
    assert await leases.lease_for(2) != first

"""Lease expiry with an injected clock: keep-alive, time-to-live, expiry -> logged revoke; the
expiry loop sleeps until a deadline, and only on the leader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore.cluster_ops import LeaseOps
from kvstore.errors import KVError
from kvstore.leases import Lessor
from kvstore.mvcc import MVCCStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Member:
    """Store + lessor wired like the node: expiry proposes a revoke entry."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = FakeClock()
        self.store = MVCCStore()
        self.lessor = Lessor(self.store, clock or self.clock)
        self.log: list[bytes] = []

    def apply(self, req: internal_pb2.InternalRaftRequest) -> object:
        data = req.SerializeToString()
        self.log.append(data)
        resp = self.store.apply(len(self.log), 1, data)
        if isinstance(resp, rpc_pb2.LeaseGrantResponse):
            self.lessor.granted(resp.ID)
        return resp

    def grant(self, lease_id: int, ttl: int) -> None:
        self.apply(internal_pb2.InternalRaftRequest(lease_grant=rpc_pb2.LeaseGrantRequest(ID=lease_id, TTL=ttl)))

    def put(self, key: bytes, lease: int) -> None:
        self.apply(internal_pb2.InternalRaftRequest(put=rpc_pb2.PutRequest(key=key, value=b"v", lease=lease)))

    def expire(self) -> list[int]:
        ids = self.lessor.expired()
        for lease_id in ids:
            self.apply(internal_pb2.InternalRaftRequest(lease_revoke=rpc_pb2.LeaseRevokeRequest(ID=lease_id)))
            self.lessor.forget(lease_id)
        return ids


def test_expiry_revokes_and_deletes_keys() -> None:
    m = Member()
    m.grant(1, 10)
    m.grant(2, 30)
    m.put(b"a", 1)
    m.put(b"b", 2)
    m.clock.now += 9.5
    assert m.expire() == []
    assert m.lessor.time_to_live(1, True) == (1, 10, [b"a"])
    m.clock.now += 0.5
    assert m.expire() == [1]
    assert m.store.get(b"a") is None and m.store.get(b"b") is not None
    assert 1 not in m.store.leases
    with pytest.raises(KVError):
        m.lessor.time_to_live(1, False)
    assert m.lessor.keep_alive(1) == 0  # etcd answers TTL 0 for a gone lease


def test_keep_alive_pushes_deadline() -> None:
    m = Member()
    m.grant(5, 10)
    for _ in range(5):
        m.clock.now += 8
        assert m.lessor.keep_alive(5) == 10
        assert m.expire() == []
    m.clock.now += 10
    assert m.expire() == [5]


def test_restart_refreshes_ttl_and_replay_is_deterministic() -> None:
    m = Member()
    m.grant(9, 10)
    m.put(b"k", 9)
    m.clock.now += 9  # almost expired when the member "crashes"
    replayed = MVCCStore()
    for i, data in enumerate(m.log, 1):
        replayed.apply(i, 1, data)
    lessor = Lessor(replayed, m.clock)
    lessor.refresh_all()
    assert lessor.remaining(9) == 10
    m.clock.now += 9
    assert lessor.expired() == []
    m.clock.now += 1
    assert lessor.expired() == [9]
    assert lessor.expired() == []  # proposed once; not again while the revoke is in flight
    lessor.retry(9)
    assert lessor.expired() == [9]


def test_leases_listing_and_min_ttl() -> None:
    m = Member()
    m.grant(3, 0)
    m.grant(4, 60)
    assert m.lessor.leases() == [3, 4]
    assert m.store.leases[3].ttl == 1
    assert m.lessor.next_deadline() == m.clock.now + 1


def test_only_an_earlier_deadline_is_reported() -> None:
    m = Member()
    reports: list[float] = []
    m.lessor.on_sooner = lambda: reports.append(m.clock.now)
    m.grant(1, 60)
    assert len(reports) == 1  # the first deadline
    m.grant(2, 120)
    m.clock.now += 10
    m.lessor.keep_alive(1)  # later than the earliest pending deadline
    assert len(reports) == 1
    m.grant(3, 5)
    assert len(reports) == 2
    m.lessor.refresh_all()  # a new leader: every lease gets a full TTL from now
    assert len(reports) >= 3


class LeaderOrNot:
    """What `LeaseOps` needs of a node: leadership, the lessor, and proposing (a revoke here)."""

    def __init__(self, lessor: Lessor) -> None:
        self.lessor = lessor
        self.is_leader = False
        self.revoked: list[int] = []
        self.proposed = asyncio.Event()

    async def propose(self, req: internal_pb2.InternalRaftRequest) -> rpc_pb2.LeaseRevokeResponse:
        self.revoked.append(req.lease_revoke.ID)
        self.lessor.forget(req.lease_revoke.ID)
        self.proposed.set()
        return rpc_pb2.LeaseRevokeResponse()


async def test_the_expiry_loop_runs_at_the_deadline_and_only_on_the_leader() -> None:
    loop = asyncio.get_running_loop()
    m = Member(clock=loop.time)
    m.grant(7, 1)
    checks: list[float] = []
    expired = m.lessor.expired

    def counted(limit: int = 1000, now: float | None = None) -> list[int]:
        checks.append(loop.time())
        return expired(limit, now)

    m.lessor.expired = counted  # type: ignore[method-assign]
    node = LeaderOrNot(m.lessor)
    task = asyncio.create_task(LeaseOps(node).expire_loop(0.02))  # type: ignore[arg-type]
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert not checks and not task.done()  # a follower waits; it never looks at the clock
        node.is_leader = True
        start = loop.time()
        m.lessor.refresh_all()  # as the member core does when this member becomes leader
        async with asyncio.timeout(5):
            await node.proposed.wait()
        assert node.revoked == [7]
        assert checks[0] >= start + 1 - 0.01  # at the deadline, not every 20 ms before it
        assert len(checks) <= 2
    finally:
        task.cancel()

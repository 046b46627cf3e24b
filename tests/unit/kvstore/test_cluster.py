"""Three KVNodes on an in-memory network: replication, forwarding, ReadIndex, failover,
snapshot catch-up, leases held by the leader, membership changes.

Fast ticks (10 ms, election after 10-20 ticks) keep every scenario well under a second
of simulated failover; every wait polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore import errors
from kvstore.errors import KVError
from kvstore.node import KVNode
from kvstore.raft import ConfChange
from kvstore.transport import InMemoryNetwork

TICK = 0.01
NAMES = ["kv-1", "kv-2", "kv-3"]
INITIAL = [(n, f"http://127.0.0.1:{2380 + i}") for i, n in enumerate(NAMES)]


def put(key: bytes, value: bytes = b"v") -> internal_pb2.InternalRaftRequest:
    return internal_pb2.InternalRaftRequest(put=rpc_pb2.PutRequest(key=key, value=value))


async def until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class Cluster:
    def __init__(self, root: Path, **kw: object) -> None:
        self.root = root
        self.net = InMemoryNetwork()
        self.kw = kw
        self.nodes: dict[str, KVNode] = {}

    def make(self, name: str, initial: list[tuple[str, str]] | None = None, state: str = "new") -> KVNode:
        return KVNode(
            self.root / name, name, initial_cluster=initial or INITIAL, initial_cluster_state=state,
            transport=self.net.transport(), tick_interval=TICK, election_ticks=10, request_timeout=3.0,
            lease_check_interval=0.02, **self.kw,  # type: ignore[arg-type]
        )

    async def start(self, name: str) -> KVNode:
        node = self.make(name)
        self.nodes[name] = node
        await node.open()
        return node

    async def stop(self, name: str) -> None:
        await self.nodes.pop(name).close()

    def leader(self) -> KVNode | None:
        leaders = [n for n in self.nodes.values() if n.is_leader]
        return leaders[0] if len(leaders) == 1 else None

    async def wait_leader(self) -> KVNode:
        await until(lambda: self.leader() is not None and all(
            n.leader == self.leader().identity.member_id for n in self.nodes.values()  # type: ignore[union-attr]
        ), what="a leader known to every member")
        leader = self.leader()
        assert leader is not None
        return leader

    def followers(self) -> list[KVNode]:
        return [n for n in self.nodes.values() if not n.is_leader]

    async def close(self) -> None:
        for name in list(self.nodes):
            await self.stop(name)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        await asyncio.gather(*(c.start(n) for n in NAMES))
        yield c
    finally:
        await c.close()


async def test_replicates_through_any_member_and_reads_are_linearizable(cluster: Cluster) -> None:
    leader = await cluster.wait_leader()
    follower = cluster.followers()[0]
    resp = await follower.propose(put(b"a", b"1"))  # forwarded to the leader
    assert isinstance(resp, rpc_pb2.PutResponse)
    rev = resp.header.revision
    assert follower.store.revision >= rev
    for node in cluster.nodes.values():  # ReadIndex: every member sees the write once it reads
        await node.linearizable_read()
        got = node.store.range(rpc_pb2.RangeRequest(key=b"a"))
        assert got.kvs[0].value == b"1" and got.kvs[0].mod_revision == rev
    # 64 concurrent puts from all members share log entries (group commit)
    syncs_before = leader.wal_stats[0]
    members = list(cluster.nodes.values())
    await asyncio.gather(*(members[i % 3].propose(put(b"k%02d" % i)) for i in range(64)))
    assert leader.wal_stats[0] - syncs_before < 40
    await until(lambda: len({n.store.revision for n in cluster.nodes.values()}) == 1, what="convergence")
    snaps = [n.store.to_snapshot() for n in cluster.nodes.values()]
    for s in snaps:
        s.index, s.term = 0, 0
    assert snaps[0] == snaps[1] == snaps[2]
    assert {m.name for m in leader.membership.sorted()} == set(NAMES)


async def test_leader_failure_elects_new_leader_and_keeps_acknowledged_writes(cluster: Cluster) -> None:
    old = await cluster.wait_leader()
    acked = {}
    for i in range(20):
        r = await old.propose(put(b"x%02d" % i))
        assert isinstance(r, rpc_pb2.PutResponse)
        acked[b"x%02d" % i] = r.header.revision
    old_name = old.name
    t0 = asyncio.get_running_loop().time()
    await cluster.stop(old_name)
    new = await cluster.wait_leader()
    assert new is not old and asyncio.get_running_loop().time() - t0 < 3.0
    assert new.term > 0
    r = await cluster.followers()[0].propose(put(b"after"))
    assert isinstance(r, rpc_pb2.PutResponse) and r.header.revision > max(acked.values())
    for key, rev in acked.items():
        assert new.store.range(rpc_pb2.RangeRequest(key=key)).kvs[0].mod_revision == rev
    back = await cluster.start(old_name)  # restarts from its WAL and catches up
    await until(lambda: back.store.revision == new.store.revision, what="restarted member catches up")
    await back.linearizable_read()
    assert back.store.range(rpc_pb2.RangeRequest(key=b"after")).count == 1


async def test_minority_cannot_write_or_read(cluster: Cluster) -> None:
    leader = await cluster.wait_leader()
    for f in cluster.followers():
        cluster.net.down.add(f.identity.member_id)
    with pytest.raises(KVError) as exc:
        leader.request_timeout = 0.5
        await leader.propose(put(b"lost?"))
    assert exc.value.code == errors.timeout().code
    with pytest.raises(KVError):
        await leader.linearizable_read()
    cluster.net.down.clear()
    leader.request_timeout = 3.0
    new = await cluster.wait_leader()
    r = await new.propose(put(b"healed"))
    assert isinstance(r, rpc_pb2.PutResponse)


async def test_lagging_member_catches_up_through_a_snapshot(tmp_path: Path) -> None:
    c = Cluster(tmp_path, snapshot_entries=20, snapshot_catchup_entries=5)
    try:
        await asyncio.gather(*(c.start(n) for n in NAMES))
        leader = await c.wait_leader()
        lagging = c.followers()[0]
        lag_name = lagging.name
        await c.stop(lag_name)
        for i in range(120):
            await leader.propose(put(b"s%03d" % (i % 30), b"%d" % i))
        assert leader.snapshots_taken >= 2
        back = await c.start(lag_name)
        await until(lambda: back.store.revision == leader.store.revision, what="snapshot catch-up")
        assert back.snapshots_taken == 0 and back._snap_index > 0  # installed the leader's snapshot
        assert back.store.range(rpc_pb2.RangeRequest(key=b"s029")).kvs[0].value == b"119"
        await c.stop(lag_name)  # and restarts from the installed snapshot
        again = await c.start(lag_name)
        assert again.store.revision == leader.store.revision
    finally:
        await c.close()


async def test_leases_expire_only_on_the_leader(cluster: Cluster) -> None:
    leader = await cluster.wait_leader()
    follower = cluster.followers()[0]
    grant = await follower.grant_lease(1, 0)
    await follower.propose(internal_pb2.InternalRaftRequest(
        put=rpc_pb2.PutRequest(key=b"leased", value=b"v", lease=grant.ID)))
    ttl = await follower.time_to_live(grant.ID, True)  # answered by the leader
    assert ttl.grantedTTL == 1 and ttl.keys == [b"leased"]
    assert await follower.keep_alive(grant.ID) == 1
    await until(lambda: grant.ID not in leader.store.leases, timeout=5, what="lease expiry")
    await until(lambda: all(grant.ID not in n.store.leases for n in cluster.nodes.values()), what="replicated revoke")
    for n in cluster.nodes.values():
        assert n.store.range(rpc_pb2.RangeRequest(key=b"leased")).count == 0
    assert await follower.keep_alive(grant.ID) == 0


async def test_watch_history_is_identical_on_every_member_across_leader_change(cluster: Cluster) -> None:
    leader = await cluster.wait_leader()
    for i in range(10):
        await leader.propose(put(b"w%d" % i))
    await cluster.stop(leader.name)
    new = await cluster.wait_leader()
    for i in range(10, 20):
        await new.propose(put(b"w%d" % i))
    await until(lambda: len({n.store.revision for n in cluster.nodes.values()}) == 1, what="convergence")
    histories = [[(c.rec.key, c.rec.mod) for c in n.store.changes] for n in cluster.nodes.values()]
    assert histories[0] == histories[1]
    revs = [r for _, r in histories[0]]
    assert revs == sorted(revs) and len(set(revs)) == len(revs) == 20


async def test_member_add_and_remove(cluster: Cluster, tmp_path: Path) -> None:
    leader = await cluster.wait_leader()
    await leader.propose(put(b"before-join"))
    url = "http://127.0.0.1:2399"
    member = await leader.member_add([url], False)
    with pytest.raises(KVError):
        await leader.member_add([url], False)  # the same peer URL twice
    await until(lambda: all(member.ID in n.membership.members for n in cluster.nodes.values()), what="member added")
    joiner = KVNode(
        tmp_path / "kv-4", "kv-4", initial_cluster=[*INITIAL, ("kv-4", url)], initial_cluster_state="existing",
        transport=cluster.net.transport(), tick_interval=TICK, election_ticks=10,
    )
    joiner.identity = joiner.identity.__class__("kv-4", member.ID, leader.identity.cluster_id)
    await _open_joined(joiner, leader)
    cluster.nodes["kv-4"] = joiner
    await until(lambda: joiner.store.revision == leader.store.revision, what="new member catches up")
    await until(lambda: joiner.membership.members.get(member.ID) is not None
                and joiner.membership.members[member.ID].name == "kv-4", what="new member published its name")
    await joiner.propose(put(b"via-new-member"))
    victim = cluster.followers()[0]
    await leader.member_remove(victim.identity.member_id)
    await until(lambda: victim.removed.is_set(), what="removed member notices")
    with pytest.raises(KVError) as exc:
        await victim.propose(put(b"nope"))
    assert exc.value == errors.member_removed()
    with pytest.raises(KVError) as exc:
        await leader.member_remove(victim.identity.member_id)
    assert exc.value == errors.member_not_found()
    r = await leader.propose(put(b"after-remove"))
    assert isinstance(r, rpc_pb2.PutResponse)


async def _open_joined(joiner: KVNode, leader: KVNode) -> None:
    """`open()` for a joining member without a peer server: seed meta.json as the gRPC fetch would."""
    from kvstore.membership import Meta, save_meta

    save_meta(joiner.member_dir, Meta(joiner.identity, leader.membership.sorted(), joined=True))
    await joiner.open()


async def test_conf_change_is_one_at_a_time(cluster: Cluster) -> None:
    leader = await cluster.wait_leader()
    a = leader.propose_conf_change(ConfChange("add", 77, b""))
    b = leader.propose_conf_change(ConfChange("add", 77, b""))
    results = await asyncio.gather(a, b, return_exceptions=True)
    assert any(isinstance(r, KVError) for r in results)
    await _ignore(leader.member_remove(77))


async def _ignore(aw: Awaitable[object]) -> None:
    try:
        await aw
    except KVError:
        pass


async def test_leadership_transfer(cluster: Cluster) -> None:
    leader = await cluster.wait_leader()
    target = cluster.followers()[0]
    await leader.propose(put(b"before-transfer"))
    await until(lambda: target.store.revision == leader.store.revision, what="target caught up")
    leader.transfer_leadership(target.identity.member_id)
    await until(lambda: target.is_leader, what="the transferee leads")
    assert (await cluster.wait_leader()) is target
    r = await leader.propose(put(b"after-transfer"))  # the old leader now forwards
    assert isinstance(r, rpc_pb2.PutResponse)


async def test_serializable_read_needs_no_leader(cluster: Cluster) -> None:
    leader = await cluster.wait_leader()
    await leader.propose(put(b"local"))
    follower = cluster.followers()[0]
    await until(lambda: follower.store.range(rpc_pb2.RangeRequest(key=b"local")).count == 1, what="replication")
    for n in cluster.nodes.values():
        if n is not follower:
            cluster.net.down.add(n.identity.member_id)
    # the isolated follower still serves its local (possibly stale) state without a round trip
    assert follower.store.range(rpc_pb2.RangeRequest(key=b"local", serializable=True)).count == 1
    follower.request_timeout = 0.3
    with pytest.raises(KVError):
        await follower.linearizable_read()
    cluster.net.down.clear()


async def test_removing_the_leader_hands_over(cluster: Cluster) -> None:
    leader = await cluster.wait_leader()
    await leader.member_remove(leader.identity.member_id)
    await until(lambda: leader.removed.is_set(), what="the old leader applies its own removal")
    await cluster.stop(leader.name)
    new = await cluster.wait_leader()
    assert len(new.membership.members) == 2 and leader.identity.member_id not in new.membership.members
    r = await cluster.followers()[0].propose(put(b"after-leader-removed"))
    assert isinstance(r, rpc_pb2.PutResponse)

"""Snapshots: storage compaction and InstallSnapshot to a lagging follower."""

from __future__ import annotations

import pytest

from kvstore.raft import Compacted, ConfState, Entry, MemoryStorage, MsgType, Unavailable
from tests.unit.kvstore.raft.network import Network


def test_memory_storage_compact_and_snapshot() -> None:
    s = MemoryStorage()
    s.append([Entry(1, i) for i in range(1, 11)])
    snap = s.create_snapshot(6, ConfState((1, 2, 3)), b"state@6")
    assert snap.meta.index == 6 and snap.meta.term == 1
    s.compact(6)
    assert s.first_index() == 7 and s.last_index() == 10 and s.term(6) == 1
    with pytest.raises(Compacted):
        s.entries(5, 8)
    with pytest.raises(Unavailable):
        s.entries(7, 12)
    assert [e.index for e in s.entries(7, 11, max_bytes=1)] == [7]
    # A conflicting append truncates the suffix.
    s.append([Entry(2, 9), Entry(2, 10), Entry(2, 11)])
    assert [(e.term, e.index) for e in s.entries(7, 12)] == [(1, 7), (1, 8), (2, 9), (2, 10), (2, 11)]


def compact_leader(net: Network, lead: int) -> int:
    m = net.members[lead]
    applied = m.node.status().applied
    m.storage.create_snapshot(applied, ConfState(m.node.status().voters), b"snap:%d" % applied)
    m.storage.compact(applied)
    return applied


def test_lagging_follower_catches_up_through_snapshot() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.down.add(3)
    for k in range(20):
        net.node(1).propose(b"%d" % k)
    net.settle()
    idx = compact_leader(net, 1)
    for k in range(20, 25):
        net.node(1).propose(b"%d" % k)
    net.settle()
    net.down.discard(3)
    net.tick(3)
    snaps = [m for m in net.log if m.type == MsgType.SNAP]
    assert len(snaps) == 1 and snaps[0].to == 3 and snaps[0].snapshot is not None
    m3 = net.members[3]
    assert m3.snapshot_data == b"snap:%d" % idx
    assert net.data(3) == [b"%d" % k for k in range(20, 25)]
    assert m3.node.status().commit == net.node(1).status().commit
    assert net.node(1).status().progress[3].state == "replicate"
    # Replication continues normally afterwards.
    net.node(3).propose(b"more")
    net.settle()
    assert net.data(3)[-1] == b"more" and net.data(1)[-1] == b"more"


def test_lost_snapshot_is_retried() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.down.add(3)
    for k in range(5):
        net.node(1).propose(b"%d" % k)
    net.settle()
    compact_leader(net, 1)
    net.down.discard(3)
    net.drop_types.add(MsgType.SNAP)  # lost in transit: report_snapshot(failed=True)
    net.tick(4)
    assert net.node(1).status().progress[3].state in ("probe", "snapshot")
    assert len([m for m in net.log if m.type == MsgType.SNAP]) >= 2  # retried
    net.drop_types.clear()
    net.tick(3)
    assert net.node(3).status().commit == net.node(1).status().commit


def test_follower_restarts_from_snapshot_storage() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    for k in range(5):
        net.node(1).propose(b"%d" % k)
    net.settle()
    # Rebuild member 2 from its persisted storage only (a restart).
    from kvstore.raft import Config, RawNode
    old = net.members[2]
    st = old.node.status()
    old.storage.create_snapshot(st.applied, ConfState(st.voters), b"s")
    old.storage.compact(st.applied)
    import random
    old.node = RawNode(Config(id=2, storage=old.storage, applied=st.applied, rng=random.Random(2)))
    assert old.node.status().commit == st.commit and old.node.status().term == st.term
    net.node(1).propose(b"after")
    net.settle()
    net.tick(2)
    assert net.data(2)[-1] == b"after"

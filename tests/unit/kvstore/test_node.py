"""KVNode: propose -> WAL -> apply, snapshots + restart, auto-compaction targets (injected clock)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore import errors
from kvstore.errors import KVError
from kvstore.main import RaftTiming, parse_retention, raft_timing
from kvstore.node import KVNode


def put(key: bytes, value: bytes = b"v") -> internal_pb2.InternalRaftRequest:
    return internal_pb2.InternalRaftRequest(put=rpc_pb2.PutRequest(key=key, value=value))


async def test_snapshot_then_restart_restores_everything(tmp_path: Path) -> None:
    node = KVNode(tmp_path, snapshot_entries=10)
    await node.open()
    for i in range(35):
        await node.propose(put(b"k%02d" % (i % 12), b"%d" % i))
    await node.propose(internal_pb2.InternalRaftRequest(compaction=rpc_pb2.CompactionRequest(revision=20)))
    await node.propose(put(b"last"))
    before = node.store.to_snapshot()
    assert node.snapshots_taken >= 3
    wal_segments = list((tmp_path / "member" / "wal").glob("*.wal"))
    assert len(wal_segments) <= 2  # covered segments were purged
    await node.close()
    again = KVNode(tmp_path, snapshot_entries=10)
    await again.open()
    after = again.store.to_snapshot()
    assert after.index >= before.index  # + the re-elected leader's no-op entry
    after.index, after.term, before.index, before.term = 0, 0, 0, 0
    assert after == before
    assert again.identity == node.identity
    resp = await again.propose(put(b"after"))
    assert isinstance(resp, rpc_pb2.PutResponse) and resp.header.revision == before.revision + 1
    await again.close()


async def test_requests_arriving_together_share_one_log_entry_and_one_fsync(tmp_path: Path) -> None:
    # Group commit: what a loop turn finds queued is one log entry, one WAL write, one fsync.
    node = KVNode(tmp_path)
    await node.open()
    await node.propose(put(b"first"))
    syncs, entries = node.wal_stats
    proposed_here = node.stats["entries"]
    resps = await asyncio.gather(*(node.propose(put(b"k%02d" % i)) for i in range(64)))
    revisions = [r.header.revision for r in resps if isinstance(r, rpc_pb2.PutResponse)]
    assert revisions == list(range(revisions[0], revisions[0] + 64))  # every one applied, in order
    assert node.wal_stats == (syncs + 1, entries + 1)
    assert node.stats["entries"] == proposed_here + 1
    await node.close()


async def test_propose_after_close_is_stopped(tmp_path: Path) -> None:
    node = KVNode(tmp_path)
    await node.open()
    await node.close()
    with pytest.raises(KVError) as exc:
        await node.propose(put(b"k"))
    assert exc.value == errors.stopped()


async def test_auto_compaction_keeps_retention_window(tmp_path: Path) -> None:
    now = [100.0]
    node = KVNode(tmp_path, clock=lambda: now[0], auto_compaction_retention=60)
    await node.open()
    await node.propose(put(b"a"))  # revision 2
    assert node.compaction_target() == 0  # sample (100, 2)
    now[0] = 130
    await node.propose(put(b"a"))  # revision 3
    assert node.compaction_target() == 0  # sample (130, 3)
    now[0] = 161
    assert node.compaction_target() == 2  # revision 2 is now older than 60s
    await node.propose(internal_pb2.InternalRaftRequest(compaction=rpc_pb2.CompactionRequest(revision=2)))
    now[0] = 170
    assert node.compaction_target() == 0
    now[0] = 200
    assert node.compaction_target() == 3
    await node.close()


def test_parse_retention() -> None:
    assert parse_retention("1") == 3600
    assert parse_retention("5m") == 300
    assert parse_retention("30s") == 30
    assert parse_retention("0") == 0
    with pytest.raises(argparse.ArgumentTypeError):
        parse_retention("soon")


def test_a_slower_heartbeat_keeps_the_election_clock_fine() -> None:
    assert raft_timing(100, 1000) == RaftTiming(0.1, 1, 10)  # etcd's defaults: one tick per heartbeat
    # 300 ms heartbeats: three 100 ms ticks each; the election still times out after 10 ticks, not 4
    assert raft_timing(300, 1000) == RaftTiming(0.1, 3, 10)
    assert raft_timing(50, 500) == RaftTiming(0.05, 1, 10)
    with pytest.raises(ValueError, match="at least twice"):
        raft_timing(300, 500)


async def test_a_pre_raft_data_dir_is_adopted(tmp_path: Path) -> None:
    """A single-member store written before Raft (entries, no hard state) keeps its data."""
    import json

    from kvstore.raft import Entry, EntryType
    from kvstore.wal import Wal, encode

    member = tmp_path / "member"
    member.mkdir()
    (member / "meta.json").write_text(json.dumps({"name": "kv-1", "member_id": 77, "cluster_id": 99}))
    wal, _ = Wal.open(member / "wal", 0)
    wal.write(b"".join(encode(Entry(1, i, EntryType.NORMAL, put(b"old%d" % i).SerializeToString()))
                       for i in range(1, 6)))
    wal.close()
    node = KVNode(tmp_path)
    await node.open()
    try:
        assert node.identity.member_id == 77 and node.identity.cluster_id == 99
        assert node.store.range(rpc_pb2.RangeRequest(key=b"old", range_end=b"old\xff")).count == 5
        resp = await node.propose(put(b"new"))
        assert isinstance(resp, rpc_pb2.PutResponse) and resp.header.revision == 7
    finally:
        await node.close()

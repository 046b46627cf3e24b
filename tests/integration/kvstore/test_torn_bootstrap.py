"""Issue 11 on real processes: a founder killed inside its first save rejoins safely.

A member's first save holds the bootstrap entry and the hard state and is fsync'd
before anything is sent. If the machine dies inside that fsync, what survives is any
prefix of it. Before the fix, a surviving prefix of entries without a hard state was
read as "a log written before Raft" and given a one-voter configuration of the member
itself: it elected itself alone and committed a different entry at an index the real
cluster had committed. Here member 1 is killed right after its first start, its WAL is
cut back to such a prefix, the other two build a history, and member 1 must rejoin
them: one leader for all three, and exactly the same keys and revisions on every member.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc
from kvstore.membership import DEFAULT_TOKEN, new_static_cluster, parse_initial_cluster
from tests.integration.kvstore.kvproc import KVCluster

pytestmark = pytest.mark.integration

_HEADER = struct.Struct("<III")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KVCluster]:
    c = KVCluster(tmp_path, 3)
    try:
        yield c
    finally:
        c.cleanup()


def _first_record_end(segment: Path) -> int:
    length, _crc, _head_crc = _HEADER.unpack_from(segment.read_bytes())
    return _HEADER.size + length


def _wait_for_first_save(wal_dir: Path, timeout: float = 20.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for seg in sorted(wal_dir.glob("*.wal")):
            if seg.stat().st_size > _HEADER.size:
                return seg
        time.sleep(0.02)  # polling the disk for the file, not synchronising on time
    raise AssertionError(f"no WAL written in {wal_dir}")


async def _range_all(endpoint: str, serializable: bool) -> list[tuple[bytes, bytes, int]]:
    async with grpc.aio.insecure_channel(endpoint) as ch:
        resp = await rpc_pb2_grpc.KVStub(ch).Range(
            rpc_pb2.RangeRequest(key=b"/t/", range_end=b"/t0", serializable=serializable), timeout=5)
    return [(kv.key, kv.value, kv.mod_revision) for kv in resp.kvs]


@pytest.mark.parametrize("cut", ["first_record", "mid_record", "empty"])
async def test_founder_torn_in_its_first_save_rejoins_without_changing_history(
        cluster: KVCluster, cut: str) -> None:
    # The founder with the lowest id: its own "add" was the first bootstrap entry before
    # the fix, so a one-record prefix of its first save named only itself.
    initial = parse_initial_cluster(cluster.initial_cluster())
    meta = new_static_cluster("kv-1", initial, DEFAULT_TOKEN)
    name = min(meta.bootstrap, key=lambda m: m.ID).name
    others = [n for n in cluster.members if n != name]
    first = cluster.members[name]
    first.start(wait=False)
    segment = _wait_for_first_save(first.data_dir / "member" / "wal")
    first.kill()
    end = _first_record_end(segment)
    keep = {"first_record": end, "mid_record": end // 2, "empty": 0}[cut]
    with segment.open("r+b") as fh:
        fh.truncate(keep)

    for other in others:
        cluster.members[other].start(wait=False)
    for other in others:
        cluster.members[other].wait_serving()
    await cluster.leader(exclude=name)
    async with grpc.aio.insecure_channel(cluster.members[others[0]].endpoint) as ch:
        kv = rpc_pb2_grpc.KVStub(ch)
        for i in range(20):
            await kv.Put(rpc_pb2.PutRequest(key=b"/t/%02d" % i, value=b"v%d" % i), timeout=5)
    expected = await _range_all(cluster.members[others[0]].endpoint, serializable=False)
    assert len(expected) == 20

    first.start()
    await cluster.leader(timeout=20)  # all three agree on one leader
    deadline = time.monotonic() + 20
    while True:
        got = {n: await _range_all(m.endpoint, serializable=True) for n, m in cluster.members.items()}
        if all(v == expected for v in got.values()):
            break
        assert time.monotonic() < deadline, f"members disagree with the committed history: {got}"
        await asyncio.sleep(0.1)
    status = await cluster.status(name)
    assert status is not None and status.raftTerm > 1

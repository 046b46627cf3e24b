"""A member whose disk fills up or fails an fsync: it refuses writes with a clear error and steps
down, the others keep serving, and once its disk works again it rebuilds itself from what is on
disk and catches up with nothing acknowledged lost.

The disk faults are real OSErrors from the `os` calls the WAL makes (a short write then ENOSPC,
or EIO from fdatasync) for the files under one member's data directory only.
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import grpc
import pytest

from kubelite.pb.etcd import kv_pb2, rpc_pb2
from kvstore import storagefault, wal
from kvstore.errors import KVError
from kvstore.node import KVNode
from kvstore.raft.types import Entry, HardState
from kvstore.storagefault import StorageFault, kv_error, probe
from kvstore.wal import Wal
from tests.unit.kvstore.test_cluster import Cluster, put, until


class FlakyOS:
    """`os` for kvstore.wal / kvstore.storagefault: writes under `full` dirs run out of space (one
    short write first, as a real full disk does), fsyncs under `eio` dirs fail."""

    def __init__(self) -> None:
        self.full: set[Path] = set()
        self.eio: set[Path] = set()
        self.failures = 0
        self._short: set[int] = set()

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    @staticmethod
    def _under(fd: int, dirs: set[Path]) -> bool:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return False
        return any(path.startswith(str(d)) for d in dirs)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if self._under(fd, self.full):
            if fd not in self._short and len(data) > 7:
                self._short.add(fd)
                return os.write(fd, data[:7])  # a torn record
            self.failures += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._short.discard(fd)
        return os.write(fd, data)

    def fdatasync(self, fd: int) -> None:
        if self._under(fd, self.eio):
            self.failures += 1
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.fdatasync(fd)

    def fsync(self, fd: int) -> None:
        if self._under(fd, self.eio):
            self.failures += 1
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.fsync(fd)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyOS]:
    fake = FlakyOS()
    monkeypatch.setattr(wal, "os", fake)
    monkeypatch.setattr(storagefault, "os", fake)
    yield fake


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path, storage_retry_interval=0.05)
    for name in ("kv-1", "kv-2", "kv-3"):
        await c.start(name)
    try:
        yield c
    finally:
        await c.close()


# ---------------------------------------------------------------------- the WAL and the fault type

def _entries(first: int, n: int) -> list[Entry]:
    return [Entry(1, i, data=b"x" * 100) for i in range(first, first + n)]


def test_failed_fsync_discards_everything_since_the_last_good_one(tmp_path: Path, flaky: FlakyOS) -> None:
    log, _ = Wal.open(tmp_path, 0)
    log.save(HardState(1, 1, 3), _entries(1, 3), sync=True)
    log.save(HardState(1, 1, 4), [], sync=False)  # commit only: written, not synced
    flaky.eio.add(tmp_path)
    with pytest.raises(OSError):
        log.save(HardState(1, 1, 4), _entries(4, 2), sync=True)
    with pytest.raises(OSError, match="unusable"):  # never written to (or fsynced) again
        log.save(None, _entries(6, 1), sync=True)
    flaky.eio.clear()
    log.abandon()
    _, replay = Wal.open(tmp_path, 0)
    assert [e.index for e in replay.entries] == [1, 2, 3]  # 4 and 5 were in the page cache only
    assert replay.hard_state == HardState(1, 1, 3)


def test_torn_record_of_a_full_disk_is_cut_off(tmp_path: Path, flaky: FlakyOS) -> None:
    log, _ = Wal.open(tmp_path, 0)
    log.save(HardState(1, 1, 2), _entries(1, 2), sync=True)
    size = log.synced_bytes
    flaky.full.add(tmp_path)
    with pytest.raises(OSError) as exc:
        log.save(HardState(1, 1, 2), _entries(3, 2), sync=True)
    assert exc.value.errno == errno.ENOSPC
    assert log.path.stat().st_size == size + 7  # the short write left half a record
    flaky.full.clear()
    log.abandon()
    assert log.path.stat().st_size == size
    reopened, replay = Wal.open(tmp_path, 0)
    assert [e.index for e in replay.entries] == [1, 2]
    reopened.save(HardState(1, 1, 3), _entries(3, 1), sync=True)  # and it appends cleanly again
    reopened.close()
    assert [e.index for e in Wal.open(tmp_path, 0)[1].entries] == [1, 2, 3]


def test_fault_messages_say_what_happened() -> None:
    full = StorageFault("writing the WAL", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert full.no_space and full.reason == "no space left on device (ENOSPC) while writing the WAL"
    err = kv_error(full)
    assert err.code == grpc.StatusCode.UNAVAILABLE and err.message.startswith("etcdserver: no space: ")
    eio = StorageFault("syncing the WAL", OSError(errno.EIO, os.strerror(errno.EIO)))
    assert not eio.no_space and eio.reason == "input/output error (EIO) while syncing the WAL"
    assert kv_error(eio).message == "etcdserver: storage failure: input/output error (EIO) while syncing the WAL"


def test_probe_needs_room_and_leaves_nothing(tmp_path: Path, flaky: FlakyOS) -> None:
    probe(tmp_path, 200_000)
    flaky.full.add(tmp_path)
    with pytest.raises(StorageFault) as exc:
        probe(tmp_path, 200_000)
    assert exc.value.no_space
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- three members

async def test_full_leader_steps_down_refuses_writes_and_catches_up(cluster: Cluster, flaky: FlakyOS) -> None:
    leader = await cluster.wait_leader()
    acked = []
    for i in range(20):
        await leader.propose(put(b"/k/%d" % i))
        acked.append(b"/k/%d" % i)
    flaky.full.add(leader.data_dir)
    await _ignore_errors(leader.propose(put(b"/trigger")))  # the write that finds the disk full
    await until(lambda: leader.core.fault is not None, what="the fault noticed")
    problem = leader.disk_wait.problem()
    assert problem is not None and "no space left on device (ENOSPC) while writing the WAL" in problem, problem
    assert not leader.is_leader and not leader.ready
    with pytest.raises(KVError) as exc:
        await leader.propose(put(b"/refused"))
    assert exc.value.code == grpc.StatusCode.UNAVAILABLE and "etcdserver: no space" in exc.value.message
    # the others elect a leader among themselves (handed off, no election timeout) and keep serving
    others = [n for n in cluster.nodes.values() if n is not leader]
    await until(lambda: any(n.is_leader for n in others), timeout=3, what="a new leader")
    for i in range(20, 60):
        await others[i % 2].propose(put(b"/k/%d" % i))
        acked.append(b"/k/%d" % i)
    assert leader.core.fault is not None  # still full: retrying does not bring it back
    flaky.full.clear()  # space freed
    await until(lambda: leader.ready and leader.core.fault is None, what="the member back")
    assert leader.disk_wait.problem() is None
    await until(lambda: leader.applied_index == others[0].applied_index, what="caught up")
    assert {kv.key for kv in _all(leader)} >= set(acked)
    assert _all(leader) == _all(others[0])
    await leader.propose(put(b"/after"))  # and it takes writes again
    await until(lambda: all(b"/after" in {kv.key for kv in _all(n)} for n in cluster.nodes.values()))


async def test_failed_fsync_on_a_follower_loses_no_acknowledged_write(cluster: Cluster, flaky: FlakyOS) -> None:
    leader = await cluster.wait_leader()
    follower = cluster.followers()[0]
    flaky.eio.add(follower.data_dir)
    acked = []
    for i in range(30):
        await leader.propose(put(b"/f/%d" % i))
        acked.append(b"/f/%d" % i)
    await until(lambda: follower.core.fault is not None, what="the fault noticed")
    assert "input/output error (EIO) while syncing the WAL to disk" in (follower.disk_wait.problem() or "")
    assert leader.is_leader  # a follower's fault does not disturb the leader
    flaky.eio.clear()
    await until(lambda: follower.ready and follower.applied_index == leader.applied_index, what="caught up")
    assert {kv.key for kv in _all(follower)} >= set(acked)
    # what is on the follower's disk is whole: it restarts from it without complaint
    await cluster.stop(follower.name)
    again = await cluster.start(follower.name)
    assert {kv.key for kv in _all(again)} >= set(acked)


def _all(node: KVNode) -> list[kv_pb2.KeyValue]:
    return list(node.store.range(rpc_pb2.RangeRequest(key=b"\0", range_end=b"\0")).kvs)


async def _ignore_errors(aw: Awaitable[object]) -> None:
    try:
        await aw
    except KVError:
        pass

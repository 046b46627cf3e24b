"""The apiserver's etcd client against kubelite's kvstore: guarded writes, ranges,
watches (incl. compaction) and fail-over between endpoints."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest

from apiserver.etcd import Compacted, EtcdClient, WatchBatch
from kubelite.api.errors import Expired, ServiceUnavailable
from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc
from kvstore.server import KVStore


@pytest.fixture
async def kv(tmp_path: Path) -> AsyncIterator[KVStore]:
    store = KVStore(tmp_path / "kv")
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


def dead_endpoint() -> str:
    """An address nobody listens on (bound and closed, so connecting is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def test_guarded_writes_and_ranges(kv: KVStore) -> None:
    c = EtcdClient([kv.endpoint])
    try:
        created = await c.create("/registry/x/a", b"1")
        assert created.succeeded
        again = await c.create("/registry/x/a", b"2")
        assert not again.succeeded and again.kv is not None and again.kv.value == b"1"
        stale = await c.update("/registry/x/a", b"3", created.revision - 1)
        assert not stale.succeeded and again.kv.mod_revision == created.revision
        updated = await c.update("/registry/x/a", b"3", created.revision)
        assert updated.succeeded and updated.revision > created.revision
        await c.create("/registry/x/b", b"b")
        await c.create("/registry/y/c", b"c")
        listed = await c.range_prefix("/registry/x/")
        assert [(kv.key, kv.value) for kv in listed.kvs] == [("/registry/x/a", b"3"), ("/registry/x/b", b"b")]
        assert listed.revision == await c.current_revision()
        page = await c.range_prefix("/registry/x/", limit=1)
        assert len(page.kvs) == 1 and page.more
        old = await c.range_prefix("/registry/x/", revision=created.revision)
        assert [kv.value for kv in old.kvs] == [b"1"]
        assert not (await c.delete("/registry/x/a", created.revision)).succeeded
        assert (await c.delete("/registry/x/a")).succeeded
        missing = await c.delete("/registry/x/a")
        assert not missing.succeeded and missing.kv is None
        assert (await c.get("/registry/x/a"))[0] is None
    finally:
        await c.close()


async def test_watch_from_revision_and_compaction(kv: KVStore) -> None:
    c = EtcdClient([kv.endpoint])
    try:
        first = await c.create("/registry/w/a", b"1")
        await c.update("/registry/w/a", b"2", first.revision)
        await c.delete("/registry/w/a")
        seen: list[tuple[str, str, bytes]] = []
        async with c.watch("/registry/w/", first.revision) as watch:
            async for batch in watch:
                assert isinstance(batch, WatchBatch)
                seen += [(ev.type, ev.kv.key, ev.kv.value) for ev in batch.events]
                if len(seen) >= 3:
                    break
        assert seen == [("PUT", "/registry/w/a", b"1"), ("PUT", "/registry/w/a", b"2"),
                        ("DELETE", "/registry/w/a", b"")]
        current = await c.current_revision()
        async with grpc.aio.insecure_channel(kv.endpoint) as channel:
            await rpc_pb2_grpc.KVStub(channel).Compact(rpc_pb2.CompactionRequest(revision=current))
        with pytest.raises(Compacted):
            async with c.watch("/registry/w/", first.revision) as watch:
                async for _ in watch:
                    pass
        with pytest.raises(Expired):
            await c.range_prefix("/registry/w/", revision=first.revision)
    finally:
        await c.close()


async def test_fails_over_to_the_next_endpoint(kv: KVStore) -> None:
    c = EtcdClient([dead_endpoint(), kv.endpoint])
    try:
        assert (await c.create("/registry/f/a", b"1")).succeeded
        assert c.endpoint == kv.endpoint
    finally:
        await c.close()
    lonely = EtcdClient([dead_endpoint()], timeout=2)
    try:
        with pytest.raises(ServiceUnavailable):
            await lonely.current_revision()
    finally:
        await lonely.close()

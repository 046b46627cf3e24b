"""The in-process `KVStore` API (used by apiserver fixtures) over real gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from kubelite.pb.etcd import kv_pb2, rpc_pb2, rpc_pb2_grpc
from kvstore.server import KVStore

pytestmark = pytest.mark.integration


@pytest.fixture
async def kv(tmp_path: Path) -> AsyncIterator[KVStore]:
    store = KVStore(tmp_path / "kv", "127.0.0.1:0", name="kv-test")
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


async def range_after_restart(data_dir: Path, key: bytes) -> rpc_pb2.RangeResponse:
    """Start a store again on `data_dir` (what its WAL and snapshots hold), read `key`, stop it."""
    again = KVStore(data_dir)
    await again.start()
    try:
        async with grpc.aio.insecure_channel(again.endpoint) as ch:
            got: rpc_pb2.RangeResponse = await rpc_pb2_grpc.KVStub(ch).Range(rpc_pb2.RangeRequest(key=key))
            return got
    finally:
        await again.stop()


async def test_endpoint_and_restart_keeps_data(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "kv")
    await store.start()
    assert store.client_port > 0 and store.endpoint == f"127.0.0.1:{store.client_port}"
    async with grpc.aio.insecure_channel(store.endpoint) as ch:
        resp = await rpc_pb2_grpc.KVStub(ch).Put(rpc_pb2.PutRequest(key=b"/registry/ns/default", value=b"{}"))
        member_id = resp.header.member_id
    await store.stop()
    got = await range_after_restart(tmp_path / "kv", b"/registry/ns/default")
    assert got.kvs[0].mod_revision == resp.header.revision
    assert got.header.member_id == member_id and got.header.cluster_id != 0


async def test_errors_use_etcd_codes_and_messages(kv: KVStore) -> None:
    async with grpc.aio.insecure_channel(kv.endpoint) as ch:
        stub = rpc_pb2_grpc.KVStub(ch)
        for _ in range(3):
            await stub.Put(rpc_pb2.PutRequest(key=b"k", value=b"v"))
        await stub.Compact(rpc_pb2.CompactionRequest(revision=3))
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.Range(rpc_pb2.RangeRequest(key=b"k", revision=2))
        assert exc.value.code() == grpc.StatusCode.OUT_OF_RANGE
        assert exc.value.details() == "etcdserver: mvcc: required revision has been compacted"
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await rpc_pb2_grpc.LeaseStub(ch).LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=12345))
        assert exc.value.code() == grpc.StatusCode.NOT_FOUND
        assert exc.value.details() == "etcdserver: requested lease not found"
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.Put(rpc_pb2.PutRequest(key=b"", value=b"v"))
        assert exc.value.details() == "etcdserver: key is not provided"
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.Put(rpc_pb2.PutRequest(key=b"big", value=b"x" * (1600 * 1024)))
        assert exc.value.details() == "etcdserver: request is too large"
        # still serving after bad requests
        assert (await stub.Range(rpc_pb2.RangeRequest(key=b"k"))).count == 1


async def test_lease_expiry_deletes_keys_and_notifies_watchers(kv: KVStore) -> None:
    async with grpc.aio.insecure_channel(kv.endpoint) as ch:
        kvs, leases = rpc_pb2_grpc.KVStub(ch), rpc_pb2_grpc.LeaseStub(ch)
        grant = await leases.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=1))
        await kvs.Put(rpc_pb2.PutRequest(key=b"/leases/a", value=b"v", lease=grant.ID))
        await kvs.Put(rpc_pb2.PutRequest(key=b"/leases/keep", value=b"v"))
        requests: asyncio.Queue[rpc_pb2.WatchRequest] = asyncio.Queue()
        await requests.put(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
            key=b"/leases/", range_end=b"/leases0", prev_kv=True)))

        async def feed() -> AsyncIterator[rpc_pb2.WatchRequest]:
            while True:
                yield await requests.get()

        call = rpc_pb2_grpc.WatchStub(ch).Watch(feed())
        created = await call.read()
        assert isinstance(created, rpc_pb2.WatchResponse) and created.created
        async with asyncio.timeout(10):
            resp = await call.read()
        assert isinstance(resp, rpc_pb2.WatchResponse)
        (event,) = resp.events
        assert event.type == kv_pb2.Event.DELETE and event.kv.key == b"/leases/a"
        assert event.prev_kv.lease == grant.ID
        ttl = await leases.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=grant.ID))
        assert ttl.TTL == -1
        assert (await kvs.Range(rpc_pb2.RangeRequest(key=b"/leases/", range_end=b"/leases0"))).count == 1
        call.cancel()


async def test_keepalive_stream_and_stop_with_open_streams(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "kv")
    await store.start()
    ch = grpc.aio.insecure_channel(store.endpoint)
    grant = await rpc_pb2_grpc.LeaseStub(ch).LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=5))
    ka = rpc_pb2_grpc.LeaseStub(ch).LeaseKeepAlive()
    await ka.write(rpc_pb2.LeaseKeepAliveRequest(ID=grant.ID))
    reply = await ka.read()
    assert isinstance(reply, rpc_pb2.LeaseKeepAliveResponse) and reply.TTL == 5 and reply.ID == grant.ID
    watch = rpc_pb2_grpc.WatchStub(ch).Watch()
    await watch.write(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"x")))
    assert (await watch.read()).created  # type: ignore[union-attr]
    async with asyncio.timeout(10):
        await store.stop()
    await ch.close()


async def test_a_broken_raft_loop_ends_serving_so_the_member_restarts_from_its_wal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected error in the Raft loop must not leave a member that answers health checks
    but never turns again (one did, believing itself leader in a term long over): `serve_until`
    ends with "broken", the process exits and its supervisor restarts it; the WAL keeps what
    was acknowledged."""
    store = KVStore(tmp_path / "kv")
    await store.start()
    stop = asyncio.Event()
    serving = asyncio.create_task(store.serve_until(stop))
    try:
        async with grpc.aio.insecure_channel(store.endpoint) as ch:
            stub = rpc_pb2_grpc.KVStub(ch)
            await stub.Put(rpc_pb2.PutRequest(key=b"kept", value=b"1"))

            def broken(rd: object) -> None:
                raise RuntimeError("a bug in a turn")

            monkeypatch.setattr(store.node, "_handle_ready", broken)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Put(rpc_pb2.PutRequest(key=b"lost", value=b"2"), timeout=5)
        assert await asyncio.wait_for(serving, 5) == "broken"
    finally:
        serving.cancel()
        await store.stop()
    got = await range_after_restart(tmp_path / "kv", b"kept")
    assert got.kvs[0].value == b"1"


async def test_serving_ends_when_asked(kv: KVStore) -> None:
    stop = asyncio.Event()
    serving = asyncio.create_task(kv.serve_until(stop))
    stop.set()
    assert await asyncio.wait_for(serving, 5) == "stopped"

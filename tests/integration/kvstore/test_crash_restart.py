"""A real kvstore process: acknowledged writes survive SIGKILL; corruption is refused."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc
from tests.integration.kvstore.kvproc import KVProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[KVProcess]:
    proc = KVProcess(tmp_path / "data", tmp_path / "kvstore.log", "--snapshot-count", "150")
    yield proc
    proc.cleanup()


async def write_keys(endpoint: str, n: int, concurrency: int) -> dict[bytes, int]:
    """Put n keys; return the revision each acknowledged put reported."""
    acked: dict[bytes, int] = {}
    async with grpc.aio.insecure_channel(endpoint) as channel:
        stub = rpc_pb2_grpc.KVStub(channel)
        todo = iter(range(n))

        async def worker() -> None:
            for i in todo:
                key = b"/registry/pods/default/p-%04d" % i
                resp = await stub.Put(rpc_pb2.PutRequest(key=key, value=b"v%d" % i))
                acked[key] = resp.header.revision

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return acked


async def read_all(endpoint: str) -> rpc_pb2.RangeResponse:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        return await rpc_pb2_grpc.KVStub(channel).Range(rpc_pb2.RangeRequest(key=b"\0", range_end=b"\0"))


async def test_acknowledged_writes_survive_sigkill(kv: KVProcess) -> None:
    kv.start()
    assert urllib.request.urlopen(f"http://{kv.health}/readyz", timeout=5).status == 200
    acked = await write_keys(kv.endpoint, 400, concurrency=16)
    assert len(set(acked.values())) == 400  # every put got its own revision
    before = await read_all(kv.endpoint)
    kv.kill()
    snapshots = list((kv.data_dir / "member" / "snap").glob("*.snap"))
    assert snapshots, "a snapshot should have been taken every 150 entries"

    kv.start()
    after = await read_all(kv.endpoint)
    got = {item.key: item.mod_revision for item in after.kvs}
    assert got == acked
    assert after.header.revision == before.header.revision == max(acked.values())
    # The restarted store keeps numbering where it left off.
    more = await write_keys(kv.endpoint, 5, concurrency=1)
    assert min(more.values()) == after.header.revision + 1
    assert kv.terminate() == 0
    assert any(e.get("msg") == "kvstore stopped" for e in kv.log_lines())


async def test_sigkill_during_writes_keeps_every_acknowledged_write(kv: KVProcess) -> None:
    kv.start()
    acked: dict[bytes, int] = {}
    enough = asyncio.Event()

    async def writer(w: int) -> None:
        async with grpc.aio.insecure_channel(kv.endpoint) as channel:
            stub = rpc_pb2_grpc.KVStub(channel)
            for i in range(10_000):
                key = b"w%02d-%05d" % (w, i)
                try:
                    resp = await stub.Put(rpc_pb2.PutRequest(key=key, value=b"x" * 100))
                except grpc.aio.AioRpcError:
                    return
                acked[key] = resp.header.revision
                if len(acked) >= 300:
                    enough.set()

    tasks = [asyncio.create_task(writer(w)) for w in range(8)]
    async with asyncio.timeout(30):
        await enough.wait()
    kv.kill()
    await asyncio.gather(*tasks)
    kv.start()
    got = {item.key: item.mod_revision for item in (await read_all(kv.endpoint)).kvs}
    missing = {k: r for k, r in acked.items() if got.get(k) != r}
    assert not missing, f"{len(missing)} acknowledged writes lost or changed"
    assert kv.terminate() == 0


async def test_corrupt_wal_refuses_to_start(kv: KVProcess) -> None:
    kv.start()
    await write_keys(kv.endpoint, 40, concurrency=1)
    assert kv.terminate() == 0
    (segment,) = sorted((kv.data_dir / "member" / "wal").glob("*.wal"))[-1:]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))
    kv.start(wait=False)
    assert kv.wait_exit() != 0
    assert any("refusing to start" in str(e.get("msg")) for e in kv.log_lines())

"""What a pod create costs the kvstore next to a plain put: a 3-member kubelite kvstore driven
directly with puts (256-byte values) and apiserver-shaped creates (a Txn: `create_revision == 0`
compare, one ~2.1 KB put, a Range in the failure branch) at several depths, with the 32 watch
streams an apiserver keeps open (one per resource, one of them on the written prefix).

Why: the kvstore's CPU per request falls steeply with the requests in flight (group commit
spreads each Raft turn's fixed cost), and an apiserver feeds it far fewer than its own 64;
comparing a create with a put at the same depth separates the Txn's own cost from that.

Run: `python bench/kvstore_creates.py [--ops 1500] [--depths 64,16,4] [--watches 32] [--rounds 2]`.
Prints the CPU per request of all members together (and of each). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kvstore import cpu_seconds, run_load, start_kubelite, wait_serving  # noqa: E402
from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc  # noqa: E402

SMALL = b"v" * 256
POD = b"x" * 2100
_C = rpc_pb2.Compare


def create_request(key: bytes) -> rpc_pb2.TxnRequest:
    """What `apiserver.etcd.EtcdClient.create` sends."""
    return rpc_pb2.TxnRequest(
        compare=[_C(key=key, target=_C.CREATE, result=_C.EQUAL, create_revision=0)],
        success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=POD))],
        failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key))])


async def open_watches(channel: grpc.aio.Channel, count: int) -> list[asyncio.Task[None]]:
    """`count` watch streams like an apiserver's: pods first, then other resources' prefixes."""
    stub = rpc_pb2_grpc.WatchStub(channel)
    tasks = []
    for i in range(count):
        prefix = b"/registry/pods/" if i == 0 else f"/registry/kind{i}/".encode()
        call = stub.Watch()
        await call.write(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
            key=prefix, range_end=prefix[:-1] + b"0")))  # no progress_notify, as the apiserver

        async def drain(call: Any = call) -> None:
            async for _ in call:
                pass
        tasks.append(asyncio.create_task(drain()))
    return tasks


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=1500)
    ap.add_argument("--depths", default="64,16,4")
    ap.add_argument("--watches", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = start_kubelite(Path(tmp), 3)
        try:
            await wait_serving(cluster)
            kv_channel = grpc.aio.insecure_channel(cluster.endpoints[0])
            watch_channel = grpc.aio.insecure_channel(cluster.endpoints[0])
            kv = rpc_pb2_grpc.KVStub(kv_channel)
            watches = await open_watches(watch_channel, args.watches)
            phase = 0

            async def run(name: str, depth: int, op: Callable[[bytes], Awaitable[object]]) -> None:
                nonlocal phase
                phase += 1
                before = [cpu_seconds([p]) for p in cluster.procs]
                rate, lat = await run_load(lambda i: op(f"p{phase}-{i:06d}".encode()), args.ops, depth)
                each = [(cpu_seconds([p]) - b) / args.ops * 1e6 for p, b in zip(cluster.procs, before, strict=True)]
                lat.sort()
                print(f"{name:18s} {depth:3d} in flight: {rate:6.0f}/s, p99 {lat[int(len(lat) * 0.99)] * 1000:5.0f} ms, "
                      f"CPU per request {sum(each):6.0f} us ({' + '.join(f'{e:.0f}' for e in each)})", flush=True)

            async def put(key: bytes) -> object:
                return await kv.Put(rpc_pb2.PutRequest(key=b"/bench/" + key, value=SMALL), timeout=30)

            async def create(key: bytes) -> object:
                return await kv.Txn(create_request(b"/registry/pods/default/" + key), timeout=30)

            await run("warm-up put", 64, put)
            for _ in range(args.rounds):
                for depth in (int(d) for d in args.depths.split(",")):
                    await run("put 256 B", depth, put)
                    await run("Txn create 2.1 KB", depth, create)
            for t in watches:
                t.cancel()
            await kv_channel.close()
            await watch_channel.close()
        finally:
            cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())

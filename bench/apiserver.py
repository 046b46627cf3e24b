"""Apiserver throughput: pod creates/s through the real kvstore + apiserver, and
List latency as the object count grows to 10,000.

Run: `python bench/apiserver.py [--pods 2000] [--total 10000] [--concurrency 64]`.
Prints figures; asserts nothing (speed targets live here, not in tests).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from harness import start_control_plane, stop_all

from kubelite.api import Container, ObjectMeta, Pod, PodSpec
from kubelite.client import ApiClient
from kubelite.pb.kubelite import api_pb2


def make_pod(i: int) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=f"bench-{i:06d}", namespace="default", labels={"app": "bench", "shard": str(i % 10)}),
        spec=PodSpec(containers=[Container(name="main", image="busybox:1.35", command=["sleep", "3600"])]),
    )


async def create_many(client: ApiClient, start_index: int, count: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    next_index = start_index

    async def worker() -> None:
        nonlocal next_index
        while next_index < start_index + count:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            await client.create(make_pod(i))
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, latencies


async def time_list(client: ApiClient, runs: int, selector: str = "") -> tuple[float, float, int]:
    """(median seconds for the raw RPC, median seconds incl. client-side parsing, item count)."""
    raw, typed = [], []
    count = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        resp = await client.transport.List(api_pb2.ListRequest(resource="pods", namespace="default", label_selector=selector))
        raw.append(time.perf_counter() - t0)
        count = len(resp.items)
        t0 = time.perf_counter()
        await client.list(Pod, namespace="default", label_selector=selector)
        typed.append(time.perf_counter() - t0)
    return statistics.median(raw), statistics.median(typed), count


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--total", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs: list = []
        try:
            server = await start_control_plane(Path(tmp), procs)
            client = ApiClient.connect(server)
            elapsed, lat = await create_many(client, 0, args.pods, args.concurrency)
            lat.sort()
            print(f"create {args.pods} pods, {args.concurrency} in flight: {args.pods / elapsed:,.0f} creates/s, "
                  f"p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms")
            raw_small, typed_small, n_small = await time_list(client, 5)
            await create_many(client, args.pods, args.total - args.pods, args.concurrency)
            raw_big, typed_big, n_big = await time_list(client, 5)
            raw_sel, typed_sel, n_sel = await time_list(client, 5, "shard=3")
            print(f"list {n_small:>6} pods: rpc {raw_small * 1000:7.1f} ms, with client decode {typed_small * 1000:7.1f} ms")
            print(f"list {n_big:>6} pods: rpc {raw_big * 1000:7.1f} ms, with client decode {typed_big * 1000:7.1f} ms")
            print(f"list {n_sel:>6} pods by label of {n_big}: rpc {raw_sel * 1000:7.1f} ms, "
                  f"with client decode {typed_sel * 1000:7.1f} ms")
            print(f"ratio list time {n_big}/{n_small} objects: {raw_big / raw_small:.1f}x for "
                  f"{n_big / max(n_small, 1):.1f}x the objects")
            await client.close()
        finally:
            stop_all(procs)


if __name__ == "__main__":
    asyncio.run(main())

"""Scheduler throughput: 10,000 pods onto 1,000 hollow nodes through the real
kvstore, apiserver and scheduler processes.

Hollow nodes (like kubemark's) are Node objects registered Ready with
capacity but no kubelet; pods are created with 64 requests in flight while a
watch records when each one is bound. Prints pods/s (first create to last
bind) and create-acknowledged -> bound latency p50/p99, and the share of pods
per node so a placement bias would show.

Run: `python bench/scheduler.py [--nodes 1000] [--pods 10000] [--concurrency 64]`.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import free_port, start, start_control_plane, stop_all, wait_ready

from client import ApiClient


def hollow_node(i: int) -> dict[str, Any]:
    name = f"hollow-{i:04d}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubelite.io/hollow": "true"}}}


NODE_STATUS = {"capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
               "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
               "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}


def bench_pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"sched-{i:06d}", "namespace": "default", "labels": {"app": "sched-bench"}},
            "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"],
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}


async def in_flight(count: int, concurrency: int, op: Any) -> None:
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < count:
            i = next_i
            next_i += 1
            await op(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def register_nodes(client: ApiClient, n: int, concurrency: int) -> None:
    async def one(i: int) -> None:
        node = await client.create_raw("nodes", hollow_node(i))
        node["status"] = NODE_STATUS
        await client.update_status_raw("nodes", node)

    await in_flight(n, concurrency, one)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="schedbench-") as tmp:
        procs: list[Any] = []
        try:
            server = await start_control_plane(Path(tmp), procs)
            client = ApiClient.connect(server)
            t0 = time.perf_counter()
            await register_nodes(client, args.nodes, args.concurrency)
            print(f"registered {args.nodes} hollow nodes in {time.perf_counter() - t0:.1f}s")
            health = f"127.0.0.1:{free_port()}"
            procs.append(start(["scheduler", "--server", server, "--listen-health", health, "--no-leader-elect",
                                "--log-level", "warning"], Path(tmp) / "scheduler.log"))
            await wait_ready(health)

            created: dict[str, float] = {}
            bound: dict[str, float] = {}
            per_node: Counter[str] = Counter()
            all_bound = asyncio.Event()
            listed = await client.list_raw("pods", "default")
            rv = str((listed.get("metadata") or {}).get("resourceVersion") or "")

            async def watch() -> None:
                async for ev in client.watch_raw("pods", "default", rv):
                    obj = ev.object
                    node = (obj.get("spec") or {}).get("nodeName")
                    name = obj.get("metadata", {}).get("name", "")
                    if node and name not in bound:
                        bound[name] = time.perf_counter()
                        per_node[node] += 1
                        if len(bound) >= args.pods:
                            all_bound.set()
                            return

            watcher = asyncio.create_task(watch())

            async def create(i: int) -> None:
                pod = await client.create_raw("pods", bench_pod(i))
                created[pod["metadata"]["name"]] = time.perf_counter()

            start_t = time.perf_counter()
            await in_flight(args.pods, args.concurrency, create)
            create_s = time.perf_counter() - start_t
            try:
                await asyncio.wait_for(all_bound.wait(), timeout=600)
            except TimeoutError:
                print(f"only {len(bound)} of {args.pods} pods bound within 10 minutes")
            watcher.cancel()
            end_t = max(bound.values(), default=start_t)
            latencies = sorted(bound[n] - created[n] for n in bound if n in created)
            total_s = end_t - start_t
            print(f"created {args.pods} pods in {create_s:.1f}s ({args.pods / create_s:,.0f} creates/s, "
                  f"{args.concurrency} in flight)")
            print(f"scheduled {len(bound)} pods onto {args.nodes} nodes in {total_s:.1f}s: "
                  f"{len(bound) / total_s:,.0f} pods/s end to end")
            if latencies:
                print(f"create-acknowledged -> bound: p50 {statistics.median(latencies) * 1000:.0f} ms, "
                      f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} ms, "
                      f"max {latencies[-1] * 1000:.0f} ms")
            counts = sorted(per_node.values())
            if counts:
                print(f"pods per node: min {counts[0]}, median {counts[len(counts) // 2]}, max {counts[-1]} "
                      f"(ideal {args.pods / args.nodes:.1f}); nodes used {len(counts)}/{args.nodes}")
            print(f"scheduling rate vs creation rate: {(len(bound) / total_s) / (args.pods / create_s):.2f}x "
                  "(1.0 = the scheduler kept up with the apiserver)")
            await client.close()
        finally:
            stop_all(procs)


if __name__ == "__main__":
    asyncio.run(main())

"""kvstore vs real etcd: the same gRPC load against a 3-member kubelite kvstore
and a 3-member etcd 3.4 (Debian `etcd-server`), started side by side in one run.

For 1, 16 and 64 requests in flight it measures Put (256-byte values) and
linearizable Range, and prints ops/s, p50/p99 latency and the kubelite/etcd
ratio. The client is the same Python grpc.aio code for both, so client cost is
shared; what differs is the server.

Run: `python bench/kvstore.py [--ops 3000] [--members 3] [--only kubelite|etcd]`.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc  # noqa: E402

CONCURRENCY = (1, 16, 64)
VALUE = b"v" * 256


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running 3-member store: its processes and client endpoints."""

    name: str
    procs: list[subprocess.Popen[bytes]]
    endpoints: list[str]

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def start_kubelite(root: Path, members: int) -> Cluster:
    names = [f"kv-{i}" for i in range(1, members + 1)]
    peers = {n: free_port() for n in names}
    clients = {n: free_port() for n in names}
    initial = ",".join(f"{n}=http://127.0.0.1:{peers[n]}" for n in names)
    procs = []
    for n in names:
        argv = [sys.executable, "-m", "kubelite.main", "kvstore", "--name", n, "--data-dir", str(root / n),
                "--listen-client", f"127.0.0.1:{clients[n]}", "--listen-peer", f"127.0.0.1:{peers[n]}",
                "--listen-health", f"127.0.0.1:{free_port()}", "--log-level", "warning"]
        if members > 1:
            argv += ["--initial-cluster", initial]
        with open(root / f"{n}.log", "wb") as out:
            procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))
    return Cluster("kubelite", procs, [f"127.0.0.1:{clients[n]}" for n in names])


def start_etcd(root: Path, members: int) -> Cluster:
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    names = [f"etcd-{i}" for i in range(1, members + 1)]
    peers = {n: free_port() for n in names}
    clients = {n: free_port() for n in names}
    initial = ",".join(f"{n}=http://127.0.0.1:{peers[n]}" for n in names)
    procs = []
    for n in names:
        argv = [etcd, "--name", n, "--data-dir", str(root / n),
                "--listen-client-urls", f"http://127.0.0.1:{clients[n]}",
                "--advertise-client-urls", f"http://127.0.0.1:{clients[n]}",
                "--listen-peer-urls", f"http://127.0.0.1:{peers[n]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peers[n]}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", "bench", "--log-level", "error", "--logger", "zap"]
        with open(root / f"{n}.log", "wb") as out:
            procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))
    return Cluster("etcd", procs, [f"127.0.0.1:{clients[n]}" for n in names])


async def wait_serving(cluster: Cluster, timeout: float = 60.0) -> None:
    """Ready = a Put through the first endpoint succeeds (a leader exists and commits)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    async with grpc.aio.insecure_channel(cluster.endpoints[0]) as ch:
        kv = rpc_pb2_grpc.KVStub(ch)
        while time.monotonic() < deadline:
            for p in cluster.procs:
                if p.poll() is not None:
                    raise SystemExit(f"{cluster.name}: a member exited with {p.returncode}; see its log")
            try:
                await kv.Put(rpc_pb2.PutRequest(key=b"/bench/ready", value=b"1"), timeout=2)
                return
            except grpc.aio.AioRpcError as e:
                last = e
                await asyncio.sleep(0.2)
    raise SystemExit(f"{cluster.name} did not serve within {timeout}s: {last}")


async def run_load(
    op: Callable[[int], Awaitable[object]], total: int, concurrency: int
) -> tuple[float, list[float]]:
    """`total` calls of `op`, `concurrency` at a time; returns (ops/s, latencies in s)."""
    latencies: list[float] = []
    counter = 0

    async def worker() -> None:
        nonlocal counter
        while counter < total:
            i = counter
            counter += 1
            t0 = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start), latencies


@dataclass
class Figure:
    ops: float
    p50_ms: float
    p99_ms: float


def figure(rate: float, lat: list[float]) -> Figure:
    lat = sorted(lat)
    return Figure(rate, statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000)


async def measure(cluster: Cluster, ops: int) -> dict[tuple[str, int], Figure]:
    """Put then Range at each concurrency; several channels so one HTTP/2 connection is not the limit."""
    results: dict[tuple[str, int], Figure] = {}
    channels = [grpc.aio.insecure_channel(cluster.endpoints[0]) for _ in range(4)]
    stubs = [rpc_pb2_grpc.KVStub(ch) for ch in channels]
    try:
        for c in CONCURRENCY:
            n = ops if c > 1 else max(200, ops // 8)

            async def put(i: int, c: int = c) -> object:
                return await stubs[i % len(stubs)].Put(
                    rpc_pb2.PutRequest(key=f"/bench/{c}/{i % 1000:04d}".encode(), value=VALUE), timeout=30)

            async def get(i: int, c: int = c) -> object:
                return await stubs[i % len(stubs)].Range(
                    rpc_pb2.RangeRequest(key=f"/bench/{c}/{i % 1000:04d}".encode()), timeout=30)

            await run_load(put, min(n, 100), c)  # warm-up
            results[("put", c)] = figure(*await run_load(put, n, c))
            results[("range", c)] = figure(*await run_load(get, n, c))
            print(f"  {cluster.name:<9} c={c:<3} put {results[('put', c)].ops:8.0f}/s  "
                  f"range {results[('range', c)].ops:8.0f}/s", flush=True)
    finally:
        for ch in channels:
            await ch.close()
    return results


def report(kl: dict[tuple[str, int], Figure] | None, et: dict[tuple[str, int], Figure] | None) -> None:
    print()
    print(f"{'op':<6}{'in flight':>10} | {'kubelite/s':>11}{'p50 ms':>8}{'p99 ms':>8} | "
          f"{'etcd/s':>9}{'p50 ms':>8}{'p99 ms':>8} | {'ratio':>6}")
    for op in ("put", "range"):
        for c in CONCURRENCY:
            k = kl.get((op, c)) if kl else None
            e = et.get((op, c)) if et else None
            ks = f"{k.ops:11.0f}{k.p50_ms:8.1f}{k.p99_ms:8.1f}" if k else f"{'-':>11}{'-':>8}{'-':>8}"
            es = f"{e.ops:9.0f}{e.p50_ms:8.1f}{e.p99_ms:8.1f}" if e else f"{'-':>9}{'-':>8}{'-':>8}"
            ratio = f"{k.ops / e.ops:6.2f}" if k and e else f"{'-':>6}"
            print(f"{op:<6}{c:>10} | {ks} | {es} | {ratio}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=3000, help="operations per phase at 16 and 64 in flight")
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--only", choices=["kubelite", "etcd"])
    args = ap.parse_args()
    print(f"kvstore benchmark: {args.members} members each, 256-byte values, {os.cpu_count()} CPUs")
    results: dict[str, dict[tuple[str, int], Figure]] = {}
    with tempfile.TemporaryDirectory(prefix="kvbench-") as tmp:
        for name, starter in (("kubelite", start_kubelite), ("etcd", start_etcd)):
            if args.only and args.only != name:
                continue
            root = Path(tmp) / name
            root.mkdir()
            cluster = starter(root, args.members)
            try:
                await wait_serving(cluster)
                results[name] = await measure(cluster, args.ops)
            finally:
                cluster.stop()
    report(results.get("kubelite"), results.get("etcd"))


if __name__ == "__main__":
    asyncio.run(main())

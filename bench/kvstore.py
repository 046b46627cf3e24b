"""kvstore vs real etcd: the same gRPC load against a 3-member kubelite kvstore
and a 3-member etcd 3.4 (Debian `etcd-server`), started side by side in one run.

For 1, 16 and 64 requests in flight it measures Put (256-byte values) and
linearizable Range, and prints ops/s, p50/p99 latency, the members' CPU time
per request and the kubelite/etcd ratio. The client is the same Python grpc.aio code for both, so client cost is
shared; what differs is the server.

Run: `python bench/kvstore.py [--ops 3000] [--members 3] [--only kubelite|etcd]
[--rounds N] [--profile DIR]`. Prints a table, then one `FIGURE` line per figure
of issue 20 (put and range at 64 in flight as kubelite/etcd ratios, put p50 at 1
in flight); with `--rounds` the stores are measured alternately N times and each
figure is the median. `--profile DIR` samples every kubelite member with py-spy
during the load and prints its top functions (files kept in DIR). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
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

from bench.harness import free_peer_port, free_port  # noqa: E402
from bench.profiling import Profiler, summary  # noqa: E402
from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc  # noqa: E402

CONCURRENCY = (1, 16, 64)
VALUE = b"v" * 256


@dataclass
class Cluster:
    """A running 3-member store: its processes and client endpoints."""

    name: str
    procs: list[subprocess.Popen[bytes]]
    endpoints: list[str]
    logs: list[Path]

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def start_kubelite(root: Path, members: int, log_level: str = "warning") -> Cluster:
    names = [f"kv-{i}" for i in range(1, members + 1)]
    peers = {n: free_peer_port() for n in names}
    clients = {n: free_port() for n in names}
    initial = ",".join(f"{n}=http://127.0.0.1:{peers[n]}" for n in names)
    procs = []
    for n in names:
        argv = [sys.executable, "-m", "kubelite.main", "kvstore", "--name", n, "--data-dir", str(root / n),
                "--listen-client", f"127.0.0.1:{clients[n]}", "--listen-peer", f"127.0.0.1:{peers[n]}",
                "--listen-health", f"127.0.0.1:{free_port()}", "--log-level", log_level]
        if members > 1:
            argv += ["--initial-cluster", initial]
        with open(root / f"{n}.log", "wb") as out:
            procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))
    return Cluster("kubelite", procs, [f"127.0.0.1:{clients[n]}" for n in names], [root / f"{n}.log" for n in names])


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
    return Cluster("etcd", procs, [f"127.0.0.1:{clients[n]}" for n in names], [root / f"{n}.log" for n in names])


async def wait_serving(cluster: Cluster, timeout: float = 60.0) -> None:
    """Ready = a Put through the first endpoint succeeds (a leader exists and commits)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    async with grpc.aio.insecure_channel(cluster.endpoints[0]) as ch:
        kv = rpc_pb2_grpc.KVStub(ch)
        while time.monotonic() < deadline:
            for p, log in zip(cluster.procs, cluster.logs, strict=True):
                if p.poll() is not None:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise SystemExit(f"{cluster.name}: a member exited with {p.returncode}; its log ends:\n{tail}")
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
    cpu_us: float = 0.0
    """CPU time of all members per request: steadier than ops/s on a busy machine."""


def figure(rate: float, lat: list[float], cpu_s: float = 0.0) -> Figure:
    lat = sorted(lat)
    return Figure(rate, statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000,
                  cpu_s / len(lat) * 1e6)


def cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU time the processes used so far (Linux /proc)."""
    total = 0
    for p in procs:
        fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def timed_load(cluster: Cluster, op: Callable[[int], Awaitable[object]], total: int,
                     concurrency: int) -> Figure:
    before = cpu_seconds(cluster.procs)
    rate, lat = await run_load(op, total, concurrency)
    return figure(rate, lat, cpu_seconds(cluster.procs) - before)


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
            results[("put", c)] = await timed_load(cluster, put, n, c)
            results[("range", c)] = await timed_load(cluster, get, n, c)
            pf, rf = results[("put", c)], results[("range", c)]
            print(f"  {cluster.name:<9} c={c:<3} put {pf.ops:8.0f}/s ({pf.cpu_us:4.0f} us CPU/op)  "
                  f"range {rf.ops:8.0f}/s ({rf.cpu_us:4.0f} us CPU/op)", flush=True)
    finally:
        for ch in channels:
            await ch.close()
    return results


Results = dict[tuple[str, int], Figure]


def median_of(runs: list[Results]) -> Results:
    """Per (op, in flight): the run with the median ops/s (its latencies with it)."""
    out: Results = {}
    for key in runs[0]:
        figs = sorted((r[key] for r in runs), key=lambda f: f.ops)
        out[key] = figs[len(figs) // 2]
    return out


def figures(kl: Results | None, et: Results | None) -> None:
    """One line per figure of issue 20, easy to compare between runs."""
    if not kl:
        return
    for op in ("put", "range"):
        k, e = kl[(op, 64)], (et or {}).get((op, 64))
        vs = (f" vs etcd {e.ops:.0f}/s = {k.ops / e.ops:.2f}x; members' CPU per request "
              f"{k.cpu_us:.0f} vs {e.cpu_us:.0f} us") if e else f"; members' CPU per request {k.cpu_us:.0f} us"
        print(f"FIGURE kvstore {op} 64 in flight: kubelite {k.ops:.0f}/s{vs}")
    k, e = kl[("put", 1)], (et or {}).get(("put", 1))
    vs = f" vs etcd p50 {e.p50_ms:.2f} ms" if e else ""
    print(f"FIGURE kvstore put 1 in flight: kubelite p50 {k.p50_ms:.2f} ms p99 {k.p99_ms:.2f} ms{vs}")


def report(kl: Results | None, et: Results | None) -> None:
    print()
    print(f"{'op':<6}{'in flight':>10} | {'kubelite/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'CPU us':>8} | "
          f"{'etcd/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'CPU us':>8} | {'ratio':>6}")
    for op in ("put", "range"):
        for c in CONCURRENCY:
            k = kl.get((op, c)) if kl else None
            e = et.get((op, c)) if et else None
            ks = f"{k.ops:11.0f}{k.p50_ms:8.1f}{k.p99_ms:8.1f}{k.cpu_us:8.0f}" if k else f"{'-':>11}{'-':>8}{'-':>8}{'-':>8}"
            es = f"{e.ops:9.0f}{e.p50_ms:8.1f}{e.p99_ms:8.1f}{e.cpu_us:8.0f}" if e else f"{'-':>9}{'-':>8}{'-':>8}{'-':>8}"
            ratio = f"{k.ops / e.ops:6.2f}" if k and e else f"{'-':>6}"
            print(f"{op:<6}{c:>10} | {ks} | {es} | {ratio}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=3000, help="operations per phase at 16 and 64 in flight")
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--only", choices=["kubelite", "etcd"])
    ap.add_argument("--rounds", type=int, default=1, help="measure each store this many times, alternately")
    ap.add_argument("--profile", type=Path, help="py-spy every kubelite member into this directory")
    args = ap.parse_args()
    print(f"kvstore benchmark: {args.members} members each, 256-byte values, {os.cpu_count()} CPUs")
    runs: dict[str, list[Results]] = {}
    with tempfile.TemporaryDirectory(prefix="kvbench-") as tmp:
        for r in range(args.rounds):
            for name, starter in (("kubelite", start_kubelite), ("etcd", start_etcd)):
                if args.only and args.only != name:
                    continue
                root = Path(tmp) / f"{name}-{r}"
                root.mkdir()
                cluster = starter(root, args.members)
                prof = Profiler(args.profile / f"round{r}") if args.profile and name == "kubelite" else None
                try:
                    await wait_serving(cluster)
                    if prof is not None:
                        for i, p in enumerate(cluster.procs):
                            prof.attach(f"kv-{i + 1}", p.pid)
                    runs.setdefault(name, []).append(await measure(cluster, args.ops))
                finally:
                    if prof is not None:
                        prof.stop()
                    cluster.stop()
                if prof is not None:
                    for f in prof.files.values():
                        print(summary(f))
    kl = median_of(runs["kubelite"]) if "kubelite" in runs else None
    et = median_of(runs["etcd"]) if "etcd" in runs else None
    report(kl, et)
    figures(kl, et)


if __name__ == "__main__":
    asyncio.run(main())

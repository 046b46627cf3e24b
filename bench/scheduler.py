"""Scheduler throughput: 10,000 pods onto 1,000 hollow nodes through the real
kvstore, apiserver and scheduler processes.

Hollow nodes (like kubemark's) are Node objects registered Ready with
capacity but no kubelet. Two phases on the same cluster:

1. streaming: pods are created with 64 requests in flight while the
   scheduler runs and a watch records when each one is bound. Prints pods/s
   (first create to last bind), create-acknowledged -> bound latency p50/p99,
   and the share of pods per node so a placement bias would show. Creation
   and scheduling share the machine's cores here.
2. backlog: the scheduler is stopped, another `--pods` pods are created, then
   a fresh scheduler starts (lists them all) and the time from its start to
   the last bind gives the scheduler's own throughput -- its decisions, binds
   and Scheduled events through the real apiserver -- without the creates.

Each phase also prints the scheduler's CPU time per pod (and, in the backlog,
the apiserver's and kvstore's meanwhile): on a shared machine wall time moves
with other load, CPU per pod much less.

Run: `python bench/scheduler.py [--nodes 1000] [--pods 10000] [--concurrency 64]
[--phase both|streaming|backlog] [--py-spy DIR]`; the large-cluster figure is
`--phase backlog --nodes 5000`. Prints figures; asserts nothing. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import (
    cpu_seconds,
    create_default_service_account,
    free_port,
    start,
    start_control_plane,
    stop_all,
    wait_ready,
)

from kubelite.client import ApiClient


def hollow_node(i: int) -> dict[str, Any]:
    name = f"hollow-{i:04d}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubelite.io/hollow": "true"}}}


NODE_STATUS = {"capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
               "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
               "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}


def bench_pod(prefix: str, i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}{i:06d}", "namespace": "default", "labels": {"app": "sched-bench"}},
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


class BindWatch:
    """Records when each pod (by name, with `prefix`) is first seen bound, from a pods watch."""

    def __init__(self, client: ApiClient, prefix: str, expected: int) -> None:
        self.client, self.prefix, self.expected = client, prefix, expected
        self.bound: dict[str, float] = {}
        self.per_node: Counter[str] = Counter()
        self.done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listed = await self.client.list_raw("pods", "default")
        rv = str((listed.get("metadata") or {}).get("resourceVersion") or "")
        self._task = asyncio.create_task(self._run(rv))

    async def _run(self, rv: str) -> None:
        async for ev in self.client.watch_raw("pods", "default", rv):
            obj = ev.object
            node = (obj.get("spec") or {}).get("nodeName")
            name = obj.get("metadata", {}).get("name", "")
            if node and name.startswith(self.prefix) and name not in self.bound:
                self.bound[name] = time.perf_counter()
                self.per_node[node] += 1
                if len(self.bound) >= self.expected:
                    self.done.set()
                    return

    async def wait(self, timeout: float = 600) -> None:
        try:
            await asyncio.wait_for(self.done.wait(), timeout=timeout)
        except TimeoutError:
            print(f"only {len(self.bound)} of {self.expected} pods bound within {timeout:.0f}s")
        if self._task is not None:
            self._task.cancel()


SPIES: list[subprocess.Popen[bytes]] = []


def start_scheduler(server: str, tmp: Path, procs: list[Any], name: str, args: argparse.Namespace) -> str:
    """A scheduler process (appended to `procs`; with `--py-spy DIR`, py-spy records it into
    DIR/<name>.txt as collapsed stacks); returns its health address."""
    health = f"127.0.0.1:{free_port()}"
    procs.append(start(["scheduler", "--server", server, "--listen-health", health, "--no-leader-elect",
                        "--log-level", "warning",
                        "--percentage-of-nodes-to-score", str(args.percentage_of_nodes_to_score)], tmp / f"{name}.log"))
    if args.py_spy:
        Path(args.py_spy).mkdir(parents=True, exist_ok=True)
        out = Path(args.py_spy) / f"{name}.txt"
        # Not in `procs`: py-spy writes its file when the scheduler exits, so it is waited for, never killed.
        # --native shows the C frames (the garbage collector, gRPC's core) but stops the process per sample.
        mode = ["--native"] if args.py_spy_native else ["--nonblocking"]
        SPIES.append(subprocess.Popen(["py-spy", "record", "--format", "raw", "--rate", "50", *mode,
                                       "-o", str(out), "--pid", str(procs[-1].pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return health


async def create_pods(client: ApiClient, prefix: str, count: int, concurrency: int) -> tuple[dict[str, float], float]:
    created: dict[str, float] = {}

    async def create(i: int) -> None:
        pod = await client.create_raw("pods", bench_pod(prefix, i))
        created[pod["metadata"]["name"]] = time.perf_counter()

    t0 = time.perf_counter()
    await in_flight(count, concurrency, create)
    return created, time.perf_counter() - t0


async def streaming(client: ApiClient, server: str, tmp: Path, procs: list[Any], args: argparse.Namespace) -> Any:
    """Returns the scheduler process it started."""
    await wait_ready(start_scheduler(server, tmp, procs, "scheduler-1", args))
    scheduler = procs[-1]
    watch = BindWatch(client, "stream-", args.pods)
    await watch.start()
    start_t = time.perf_counter()
    cpu0 = cpu_seconds(scheduler.pid)
    created, create_s = await create_pods(client, "stream-", args.pods, args.concurrency)
    await watch.wait()
    sched_cpu = cpu_seconds(scheduler.pid) - cpu0
    bound = watch.bound
    total_s = max(bound.values(), default=start_t) - start_t
    latencies = sorted(bound[n] - created[n] for n in bound if n in created)
    print(f"[streaming] created {args.pods} pods in {create_s:.1f}s ({args.pods / create_s:,.0f} creates/s, "
          f"{args.concurrency} in flight) while scheduling")
    print(f"[streaming] scheduled {len(bound)} pods onto {args.nodes} nodes in {total_s:.1f}s: "
          f"{len(bound) / total_s:,.0f} pods/s end to end "
          f"({(len(bound) / total_s) / (args.pods / create_s):.2f}x the creation rate)")
    if latencies:
        print(f"[streaming] create-acknowledged -> bound: p50 {statistics.median(latencies) * 1000:.0f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    counts = sorted(watch.per_node.values())
    if counts:
        print(f"[streaming] pods per node: min {counts[0]}, median {counts[len(counts) // 2]}, max {counts[-1]} "
              f"(ideal {args.pods / args.nodes:.1f}); nodes used {len(counts)}/{args.nodes}")
    print(f"[streaming] scheduler CPU {sched_cpu:.1f}s: {sched_cpu / max(len(bound), 1) * 1e6:,.0f} us per pod")
    return scheduler


async def scheduled_events(client: ApiClient, prefix: str) -> int:
    """How many `Scheduled` Events about pods named `prefix...` exist now (listed after the CPU
    figures are taken, so the List costs them nothing)."""
    listed = await client.list_raw("events", "default")
    return sum(1 for e in listed.get("items") or []
               if e.get("reason") == "Scheduled"
               and str((e.get("involvedObject") or {}).get("name") or "").startswith(prefix))


async def backlog(client: ApiClient, server: str, tmp: Path, procs: list[Any], args: argparse.Namespace,
                  running: Any | None) -> None:
    if running is not None:  # the streaming phase's scheduler
        stop_all([running])
        procs.remove(running)
    _, create_s = await create_pods(client, "backlog-", args.pods, args.concurrency)
    print(f"[backlog] {args.pods} pending pods created in {create_s:.1f}s with no scheduler running")
    watch = BindWatch(client, "backlog-", args.pods)
    await watch.start()
    start_t = time.perf_counter()
    health = start_scheduler(server, tmp, procs, "scheduler-2", args)
    scheduler = procs[-1]
    await wait_ready(health, timeout=120)
    ready_s = time.perf_counter() - start_t
    ready_cpu = cpu_seconds(scheduler.pid)
    plane0 = [cpu_seconds(p.pid) for p in procs[:2]]
    await watch.wait()
    bind_cpu = cpu_seconds(scheduler.pid) - ready_cpu
    kv_cpu, api_cpu = (cpu_seconds(p.pid) - c for p, c in zip(procs[:2], plane0, strict=True))
    bound = watch.bound
    first = min(bound.values(), default=start_t)
    last = max(bound.values(), default=start_t)
    print(f"[backlog] scheduler process start -> ready (listed {args.pods} pods, {args.nodes} nodes) "
          f"{ready_s:.1f}s")
    print(f"[backlog] bound {len(bound)} pods in {last - first:.1f}s from the first bind: "
          f"{len(bound) / max(last - first, 1e-9):,.0f} pods/s scheduler throughput "
          f"({len(bound) / (last - start_t):,.0f} pods/s including process start)")
    print(f"[backlog] scheduler CPU after ready {bind_cpu:.1f}s: {bind_cpu / max(len(bound), 1) * 1e6:,.0f} us per pod "
          f"(a ceiling of {len(bound) / max(bind_cpu, 1e-9):,.0f} pods/s on a free core); "
          f"meanwhile apiserver CPU {api_cpu:.1f}s, kvstore CPU {kv_cpu:.1f}s")
    print(f"[backlog] Scheduled Events written by then: {await scheduled_events(client, 'backlog-')}/{len(bound)} "
          "(the recorder writes one at a time, after the binds: the rest, and their CPU, come later)")
    # The fair per-pod cost includes the pod's Scheduled Event: wait for the recorder to catch up.
    # Polled (a List per second): the scheduler's figure is untouched, the apiserver's includes the Lists.
    events_t = time.perf_counter()
    written = 0
    while time.perf_counter() - events_t < 120:
        written = await scheduled_events(client, "backlog-")
        if written >= len(bound):
            break
        await asyncio.sleep(1.0)
    all_cpu = cpu_seconds(scheduler.pid) - ready_cpu
    print(f"[backlog] with the Events: {written}/{len(bound)} written {time.perf_counter() - events_t:.1f}s after the "
          f"last bind; scheduler CPU after ready {all_cpu:.1f}s: {all_cpu / max(len(bound), 1) * 1e6:,.0f} us per pod "
          "bound and recorded")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=10000, help="pods per phase")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--phase", choices=["both", "streaming", "backlog"], default="both")
    ap.add_argument("--percentage-of-nodes-to-score", type=int, default=0,
                    help="passed to the scheduler: 0 = adaptive (kube-scheduler's rule), 100 = every node")
    ap.add_argument("--py-spy", metavar="DIR", help="record each scheduler with py-spy into DIR/<name>.txt "
                    "(collapsed stacks; `bench/profiling.py FILE` sums them)")
    ap.add_argument("--py-spy-native", action="store_true",
                    help="with --py-spy: sample C frames too (gc_collect_main, gRPC core); blocking, so slower")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="schedbench-") as tmp:
        procs: list[Any] = []
        try:
            server = await start_control_plane(Path(tmp), procs)
            client = ApiClient.connect(server)
            t0 = time.perf_counter()
            await register_nodes(client, args.nodes, args.concurrency)
            print(f"registered {args.nodes} hollow nodes in {time.perf_counter() - t0:.1f}s")
            await create_default_service_account(client)
            running = None
            if args.phase in ("both", "streaming"):
                running = await streaming(client, server, Path(tmp), procs, args)
            if args.phase in ("both", "backlog"):
                await backlog(client, server, Path(tmp), procs, args, running)
            await client.close()
        finally:
            stop_all(procs)
            for spy in SPIES:
                spy.wait(timeout=60)


if __name__ == "__main__":
    asyncio.run(main())

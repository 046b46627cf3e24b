"""Watch fan-out over gRPC: one write seen by N watchers (what kubelite's own components use).

N watch streams on ConfigMaps of one namespace, spread over several client channels as many
daemons would open them; a warm-up write that every watcher must see proves all streams are
established, then `writes` ConfigMaps are created one at a time (10/s). Per write: the time
from sending the create until the last watcher has its event (p50/p99 over the writes), and
per watcher-event. By default the watchers run in this process, so the figure includes their
decoding on one core; `--client-procs N` spreads them over N client processes (each reports
when its watchers saw a write, on the machine-wide monotonic clock), which shows how much of
the latency is the clients rather than the apiserver.

Run: `python bench/apiserver.py watch [--watchers 1000] [--writes 50] [--kv-members 3]
[--client-procs N] [--py-spy DIR]`.
Prints one line per figure; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, cpu_seconds, start_control_plane, stop_all
from profiling import profile_apiserver, stop_profile

from kubelite.client import ApiClient

NAMESPACE = "default"
WATCHERS_PER_CHANNEL = 100


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


def _configmap(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE},
            "data": {"payload": "x" * 200}}


class FanOut:
    """Who has seen which write, and a waiter per write for "every watcher saw it"."""

    def __init__(self, watchers: int):
        self.watchers = watchers
        self.seen: dict[str, list[float]] = {}
        self.complete: dict[str, asyncio.Event] = {}

    def expect(self, name: str) -> asyncio.Event:
        self.seen[name] = []
        self.complete[name] = asyncio.Event()
        return self.complete[name]

    def saw(self, name: str, at: float | None = None) -> None:
        times = self.seen.get(name)
        if times is None:
            return
        times.append(time.perf_counter() if at is None else at)
        if len(times) == self.watchers:
            times.sort()
            self.complete[name].set()


async def watch_one(client: ApiClient, rv: str, fan: FanOut) -> None:
    async for event in client.watch_raw("configmaps", NAMESPACE, rv):
        if event.type == "ADDED":
            fan.saw(event.object["metadata"]["name"])


async def client_process(server: str, rv: str, watchers: int) -> None:
    """A child's watchers (`--client-procs`): one JSON line per write, once all of them saw it,
    with the perf_counter times (CLOCK_MONOTONIC, the same clock in every process)."""
    channels = [ApiClient.connect(server) for _ in range(max(1, -(-watchers // WATCHERS_PER_CHANNEL)))]
    seen: dict[str, list[float]] = {}

    async def one(client: ApiClient) -> None:
        async for event in client.watch_raw("configmaps", NAMESPACE, rv):
            if event.type == "ADDED":
                name = event.object["metadata"]["name"]
                times = seen.setdefault(name, [])
                times.append(time.perf_counter())
                if len(times) == watchers:
                    sys.stdout.write(json.dumps({"name": name, "times": times}) + "\n")
                    sys.stdout.flush()
    await asyncio.gather(*(one(channels[i % len(channels)]) for i in range(watchers)))


async def start_clients(server: str, rv: str, args: argparse.Namespace, fan: FanOut
                        ) -> tuple[list[asyncio.subprocess.Process], list[asyncio.Task[None]]]:
    """`--client-procs` child processes sharing the watchers; their reports feed `fan`."""
    procs, readers = [], []
    for i in range(args.client_procs):
        share = args.watchers // args.client_procs + (i < args.watchers % args.client_procs)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__)), server, rv, str(share), cwd=ROOT, stdout=asyncio.subprocess.PIPE)
        procs.append(proc)

        async def read(out: asyncio.StreamReader) -> None:
            async for line in out:
                report = json.loads(line)
                for at in report["times"]:
                    fan.saw(report["name"], at)
        assert proc.stdout is not None
        readers.append(asyncio.create_task(read(proc.stdout)))
    return procs, readers


async def bench_watch(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        procs: list[subprocess.Popen[bytes]] = []
        try:
            server = await start_control_plane(Path(tmp), procs, kv_members=args.kv_members)
            writer = ApiClient.connect(server)
            channels = [ApiClient.connect(server) for _ in range(max(1, -(-args.watchers // WATCHERS_PER_CHANNEL)))]
            rv = (await writer.list_raw("configmaps", NAMESPACE))["metadata"]["resourceVersion"]
            fan = FanOut(args.watchers)
            warm = fan.expect("warm-up")
            t0 = time.perf_counter()
            children, tasks = [], []
            if args.client_procs:
                children, tasks = await start_clients(server, rv, args, fan)
            else:
                tasks = [asyncio.create_task(watch_one(channels[i % len(channels)], rv, fan))
                         for i in range(args.watchers)]
            await writer.create_raw("configmaps", _configmap("warm-up"), NAMESPACE)
            await asyncio.wait_for(warm.wait(), 300)
            where = f"{args.client_procs} client processes" if args.client_procs else "this process"
            print(f"{args.watchers} gRPC watchers in {where} established in {time.perf_counter() - t0:.1f}s")
            prof = profile_apiserver(args, procs)
            api0 = cpu_seconds(procs[-1].pid)
            all_seen, per_event, missing = [], [], 0
            for i in range(args.writes):
                name = f"w-{i:04d}"
                done = fan.expect(name)
                sent = time.perf_counter()
                await writer.create_raw("configmaps", _configmap(name), NAMESPACE)
                try:
                    await asyncio.wait_for(done.wait(), 30)
                    all_seen.append(fan.seen[name][-1] - sent)
                except TimeoutError:
                    missing += args.watchers - len(fan.seen[name])
                per_event.extend(t - sent for t in fan.seen[name])
                await asyncio.sleep(0.1)
            api_cpu = cpu_seconds(procs[-1].pid) - api0
            stop_profile(prof)
            print(f"apiserver CPU per write (its fan-out to {args.watchers} watchers included): "
                  f"{api_cpu / args.writes * 1000:.1f} ms, {api_cpu / args.writes / args.watchers * 1e6:.0f} us per "
                  f"watcher-event")
            print(f"watch fan-out, {args.watchers} watchers x {args.writes} writes: every watcher saw a write after "
                  f"p50 {_pct(all_seen, 0.5):.1f} ms, p99 {_pct(all_seen, 0.99):.1f} ms (target p99 <= 100 ms)")
            print(f"watch fan-out per watcher-event: p50 {_pct(per_event, 0.5):.1f} ms, "
                  f"p99 {_pct(per_event, 0.99):.1f} ms; {missing} events missing")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for child in children:
                child.kill()
                await child.wait()
            for c in (writer, *channels):
                await c.close()
        finally:
            stop_all(procs)


if __name__ == "__main__":  # a client process of `--client-procs`: SERVER RV WATCHERS
    asyncio.run(client_process(sys.argv[1], sys.argv[2], int(sys.argv[3])))

"""Watch fan-out over gRPC: one write seen by N watchers (what kubelite's own components use).

N watch streams on ConfigMaps of one namespace, spread over several client channels as many
daemons would open them; a warm-up write that every watcher must see proves all streams are
established, then `writes` ConfigMaps are created one at a time (10/s). Per write: the time
from sending the create until the last watcher has its event (p50/p99 over the writes), and
per watcher-event. The watchers run in this process, so the figure includes their decoding.

Run: `python bench/apiserver.py watch [--watchers 1000] [--writes 50] [--kv-members 3]`.
Prints one line per figure; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

from harness import start_control_plane, stop_all

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

    def saw(self, name: str) -> None:
        times = self.seen.get(name)
        if times is None:
            return
        times.append(time.perf_counter())
        if len(times) == self.watchers:
            self.complete[name].set()


async def watch_one(client: ApiClient, rv: str, fan: FanOut) -> None:
    async for event in client.watch_raw("configmaps", NAMESPACE, rv):
        if event.type == "ADDED":
            fan.saw(event.object["metadata"]["name"])


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
            tasks = [asyncio.create_task(watch_one(channels[i % len(channels)], rv, fan))
                     for i in range(args.watchers)]
            await writer.create_raw("configmaps", _configmap("warm-up"), NAMESPACE)
            await asyncio.wait_for(warm.wait(), 300)
            print(f"{args.watchers} gRPC watchers on {len(channels)} channels established in "
                  f"{time.perf_counter() - t0:.1f}s")
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
            print(f"watch fan-out, {args.watchers} watchers x {args.writes} writes: every watcher saw a write after "
                  f"p50 {_pct(all_seen, 0.5):.1f} ms, p99 {_pct(all_seen, 0.99):.1f} ms (target p99 <= 100 ms)")
            print(f"watch fan-out per watcher-event: p50 {_pct(per_event, 0.5):.1f} ms, "
                  f"p99 {_pct(per_event, 0.99):.1f} ms; {missing} events missing")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in (writer, *channels):
                await c.close()
        finally:
            stop_all(procs)

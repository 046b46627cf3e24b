"""The Kubernetes HTTPS API next to gRPC, on one apiserver as `kubelite up` runs it (TLS, client
certificates, Node,RBAC; the admin is in system:masters): ConfigMap creates/s and List latency over
each path in the same run, then watch delivery to N HTTPS watchers -- for each write, the time until
every watcher has seen it (p50/p99 over the writes), and per watcher-event (p50/p99).

Run: `python bench/apiserver.py http [--objects 2000] [--concurrency 32] [--watchers 1000] [--writes 50]`.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from harness import free_port, start_control_plane, stop_all

from kubelite.client import ApiClient
from kubelite.client.tls import ClientTLS

MintPki = Callable[[Path], tuple[list[str], ClientTLS, ClientTLS]]
Measure = Callable[[ApiClient, str, int, int], Awaitable[Any]]


def _ssl(tls: ClientTLS) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls.ca_file)
    assert tls.cert_file is not None and tls.key_file is not None
    context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


def _configmap(name: str, i: int) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"index": str(i), "payload": "x" * 200}}


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1000


async def http_creates(session: aiohttp.ClientSession, base: str, namespace: str, n: int,
                       concurrency: int) -> tuple[float, float]:
    """(creates/s, p99 ms) for `n` ConfigMaps POSTed with `concurrency` in flight."""
    url = f"{base}/api/v1/namespaces/{namespace}/configmaps"
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < n:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            async with session.post(url, json=_configmap(f"cm-{i:06d}", i)) as resp:
                await resp.read()
                if resp.status != 201:
                    raise RuntimeError(f"create failed: {resp.status}")
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0), _pct(latencies, 0.99)


async def http_list_ms(session: aiohttp.ClientSession, base: str, namespace: str) -> tuple[float, int]:
    runs, count = [], 0
    for _ in range(5):
        t0 = time.perf_counter()
        async with session.get(f"{base}/api/v1/namespaces/{namespace}/configmaps") as resp:
            count = len(json.loads(await resp.read())["items"])
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1000, count


async def watch_delivery(session: aiohttp.ClientSession, base: str, watchers: int, writes: int) -> None:
    namespace = "watched"
    url = f"{base}/api/v1/namespaces/{namespace}/configmaps"
    async with session.get(url) as resp:
        rv = json.loads(await resp.read())["metadata"]["resourceVersion"]
    seen: list[dict[str, float]] = [{} for _ in range(watchers)]
    ready, all_seen_event = asyncio.Event(), asyncio.Event()
    connected = events = 0

    async def watch(index: int) -> None:
        nonlocal connected, events
        async with session.get(url, params={"watch": "1", "resourceVersion": rv}) as resp:
            connected += 1
            if connected == watchers:
                ready.set()
            async for line in resp.content:
                now = time.perf_counter()
                event = json.loads(line)
                seen[index][event["object"]["metadata"]["name"]] = now
                events += 1
                if events == watchers * writes:
                    all_seen_event.set()

    tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
    t0 = time.perf_counter()
    await asyncio.wait_for(ready.wait(), 300)
    print(f"{watchers} HTTPS watchers connected in {time.perf_counter() - t0:.1f}s")
    written: dict[str, float] = {}
    for i in range(writes):
        name = f"w-{i:04d}"
        written[name] = time.perf_counter()
        async with session.post(url, json=_configmap(name, i)) as resp:
            await resp.read()
        await asyncio.sleep(0.1)
    try:
        await asyncio.wait_for(all_seen_event.wait(), 60)
    except TimeoutError:
        pass  # reported as missing events below
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    missing = sum(writes - len(s) for s in seen)
    per_event = [s[name] - t for s in seen for name, t in written.items() if name in s]
    all_seen = [max(s[name] for s in seen) - t for name, t in written.items() if all(name in s for s in seen)]
    print(f"watch delivery, {watchers} watchers x {writes} writes (10/s): every watcher saw a write after "
          f"p50 {_pct(all_seen, 0.5):.1f} ms, p99 {_pct(all_seen, 0.99):.1f} ms; per watcher-event "
          f"p50 {_pct(per_event, 0.5):.1f} ms, p99 {_pct(per_event, 0.99):.1f} ms; {missing} events missing")


async def bench_http(args: argparse.Namespace, mint_pki: MintPki, measure: Measure) -> None:
    """`mint_pki` and `measure` are `bench/apiserver.py`'s (its gRPC side of the access benchmark)."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            flags, admin_tls, _ = mint_pki(tmp / "pki")
            https_port = free_port()
            server = await start_control_plane(tmp / "cp", procs, [*flags, "--secure-port", str(https_port),
                                                                   "--bind-address", "127.0.0.1"])
            base = f"https://127.0.0.1:{https_port}"
            admin = ApiClient.connect(server, credentials=admin_tls.credentials())
            connector = aiohttp.TCPConnector(limit=0, ssl=_ssl(admin_tls))
            async with aiohttp.ClientSession(connector=connector) as session:
                for namespace in ("grpc", "http", "watched"):
                    await admin.create_raw("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": namespace}})
                grpc = await measure(admin, "grpc", args.objects, args.concurrency)
                rate, p99 = await http_creates(session, base, "http", args.objects, args.concurrency)
                list_ms, listed = await http_list_ms(session, base, "http")
                print(f"gRPC : {grpc.creates_per_s:7,.0f} creates/s (p99 {grpc.p99_ms:6.1f} ms), "
                      f"list {grpc.listed} configmaps {grpc.list_ms:6.1f} ms")
                print(f"HTTPS: {rate:7,.0f} creates/s (p99 {p99:6.1f} ms), list {listed} configmaps {list_ms:6.1f} ms")
                await watch_delivery(session, base, args.watchers, args.writes)
            await admin.close()
        finally:
            stop_all(procs)

"""How fast the proxy programs iptables: 1,000 Services × 10 endpoints from scratch, then one endpoint change.

Run (root, iptables): `python bench/proxy_sync.py [--services 1000] [--endpoints 10] [--single]`.

Uses the proxy's own code path (rules builder -> restore planner ->
`iptables-restore --noflush` through `RuleSyncer`) against a fresh network
namespace created for the run (deleted at the end):

1. build: pure-Python time to turn the services into the complete rule set;
2. from scratch: the first (full) sync into the empty namespace — reading the
   (empty) owned chains, every restore transaction, adding the jumps;
3. one endpoint change: rebuild + plan + the partial restore of that service;
4. `--single`: for comparison, the same full rule set as ONE restore
   transaction into another fresh namespace (why the planner chunks: the cost
   of one iptables-nft `--noflush` transaction grows quadratically).

`--daemon` measures the whole daemon instead: real kvstore + apiserver
processes holding the Services and Endpoints, `kubelite proxy` started in a
fresh namespace (reaching the apiserver through a unix-socket forwarder);
from scratch = process start to `/readyz` (list, build, restore), one change =
Endpoints update call to the proxy's next completed sync (watch + sync).

Prints the figures and the payload sizes; checks the kernel holds what was
written (chain count, the changed endpoint), asserts nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubelite.proxy.iptables import Iptables  # noqa: E402
from kubelite.proxy.model import Endpoint, ServicePort  # noqa: E402
from kubelite.proxy.rules import RulesBuilder, RulesConfig, RuleSet  # noqa: E402
from kubelite.proxy.syncer import RuleSyncer  # noqa: E402

Ports = list[tuple[ServicePort, list[Endpoint]]]


def workload(services: int, endpoints: int) -> Ports:
    """`services` ClusterIP services (every 4th a NodePort, every 10th with ClientIP affinity)."""
    ports: Ports = []
    for s in range(services):
        sp = ServicePort(namespace=f"ns{s % 20}", name=f"svc-{s}", port_name="http", protocol="TCP", port=80,
                         cluster_ip=f"10.96.{s // 250}.{s % 250 + 1}",
                         node_port=30000 + s if s % 4 == 0 else None,
                         affinity_seconds=10800 if s % 10 == 0 else None)
        eps = [Endpoint(f"10.244.{(s * endpoints + e) // 250 % 256}.{(s * endpoints + e) % 250 + 2}", 8080)
               for e in range(endpoints)]
        ports.append((sp, eps))
    return ports


def netns(name: str) -> list[str]:
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return ["ip", "netns", "exec", name]


def count_chains(prefix: list[str], start: str) -> int:
    out = subprocess.run([*prefix, "iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line.startswith(":" + start))


async def run(services: int, endpoints: int, single: bool) -> None:
    tag = f"kpxbench{os.getpid()}"
    config = RulesConfig(cluster_cidr="10.244.0.0/16")
    ports = workload(services, endpoints)
    builder = RulesBuilder(config)  # as in the proxy: one builder for the process's lifetime
    t0 = time.perf_counter()
    rules = builder.build(ports)
    build_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    RulesBuilder(config).build(ports)
    build_names = time.perf_counter() - t0
    t0 = time.perf_counter()
    rules = builder.build(ports)
    build_warm = time.perf_counter() - t0
    print(f"workload: {services} services × {endpoints} endpoints -> {len(rules.chains)} chains, "
          f"{rules.rule_count()} rules, full payload {len(rules.render()) / 1e6:.2f} MB")
    print(f"build (pure Python): {build_cold * 1000:.0f} ms first, {build_names * 1000:.0f} ms by a new builder "
          f"(chain names cached), {build_warm * 1000:.0f} ms by the same builder with nothing changed")

    names = [f"{tag}-a", f"{tag}-b"]
    created: list[str] = []
    try:
        prefix = netns(names[0])
        created.append(names[0])
        syncer = RuleSyncer(Iptables(prefix))
        t0 = time.perf_counter()
        result = await syncer.apply(rules)
        scratch = time.perf_counter() - t0
        print(f"from scratch: {scratch:.2f} s  ({len(result.plan.transactions)} restore transactions, "
              f"{result.restore_bytes / 1e6:.2f} MB, restore {result.restore_seconds:.2f} s, "
              f"{result.jumps_added} jumps added)")
        seps = count_chains(prefix, "KUBE-SEP-")
        assert seps == services * endpoints, f"kernel has {seps} KUBE-SEP chains"

        changed = list(ports)
        sp, eps = changed[services // 2]
        changed[services // 2] = (sp, [*eps[1:], Endpoint("10.250.0.99", 8080)])
        t0 = time.perf_counter()
        new_rules: RuleSet = builder.build(changed)
        built = time.perf_counter()
        result = await syncer.apply(new_rules)
        one = time.perf_counter() - t0
        print(f"one endpoint change: {one * 1000:.0f} ms  (build {(built - t0) * 1000:.0f} ms, "
              f"restore {result.restore_seconds * 1000:.0f} ms of {result.restore_bytes} bytes, "
              f"{result.plan.written} chains written, {result.plan.deleted} deleted)")
        out = subprocess.run([*prefix, "iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
        assert "10.250.0.99:8080" in out and str(eps[0]) not in out

        if single:
            prefix_b = netns(names[1])
            created.append(names[1])
            payload = rules.render()
            t0 = time.perf_counter()
            subprocess.run([*prefix_b, "iptables-restore", "-w", "--noflush"], input=payload.encode(), check=True)
            print(f"for comparison, the full set as ONE --noflush transaction: {time.perf_counter() - t0:.2f} s")
    finally:
        for name in created:
            subprocess.run(["ip", "netns", "del", name], check=False)


class Forwarder:
    """unix socket -> TCP: lets the proxy inside the namespace reach the apiserver on the host's loopback."""

    def __init__(self, target: str, path: Path) -> None:
        self.host, _, port = target.rpartition(":")
        self.port, self.path = int(port), path

    async def start(self) -> asyncio.Server:
        return await asyncio.start_unix_server(self._handle, str(self.path))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except ConnectionError:
                pass
            finally:
                w.close()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def metric(prefix: list[str], name: str) -> float | None:
    proc = await asyncio.create_subprocess_exec(*prefix, "busybox", "wget", "-q", "-O", "-",
                                                "http://127.0.0.1:10256/metrics", stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    for line in out.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def run_daemon_mode(services: int, endpoints: int) -> None:
    from bench.harness import start_control_plane, stop_all
    from kubelite.api import Endpoints, Service
    from kubelite.client import ApiClient

    tag = f"kpxbench{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix=tag))
    procs: list[subprocess.Popen[bytes]] = []
    ns_created = False
    proxy: asyncio.subprocess.Process | None = None
    ok = False
    try:
        server = await start_control_plane(tmp, procs)
        client = ApiClient.connect(server)
        sem = asyncio.Semaphore(32)

        async def create(sp: ServicePort, eps: list[Endpoint]) -> None:
            async with sem:
                await client.create(Service.from_dict({"metadata": {"name": sp.name, "namespace": "default"},
                                                       "spec": {"clusterIP": sp.cluster_ip, "ports": [
                                                           {"name": "http", "port": 80, "targetPort": 8080}]}}))
                await client.create(Endpoints.from_dict({"metadata": {"name": sp.name, "namespace": "default"},
                                                         "subsets": [{"addresses": [{"ip": e.ip} for e in eps],
                                                                      "ports": [{"name": "http", "port": 8080}]}]}))
        t0 = time.perf_counter()
        await asyncio.gather(*(create(sp, eps) for sp, eps in workload(services, endpoints)))
        print(f"created {services} Services + Endpoints in {time.perf_counter() - t0:.1f} s")
        forwarder = await Forwarder(server, tmp / "api.sock").start()
        prefix = netns(tag)
        ns_created = True
        t0 = time.perf_counter()
        with open(tmp / "proxy.log", "wb") as log:
            proxy = await asyncio.create_subprocess_exec(
                *prefix, sys.executable, "-m", "kubelite.proxy.main", "--server", f"unix:{tmp / 'api.sock'}",
                "--node-name", "bench", "--listen-health", "127.0.0.1:10256", stderr=log,
                cwd=Path(__file__).resolve().parent.parent)
        while True:
            if await metric(prefix, "kubeproxy_sync_proxy_rules_duration_seconds_count"):
                break
            if proxy.returncode is not None or time.perf_counter() - t0 > 120:
                raise SystemExit(f"proxy did not sync; see {tmp / 'proxy.log'}")
            await asyncio.sleep(0.05)
        first = await metric(prefix, "kubeproxy_sync_proxy_rules_last_duration_seconds") or 0.0
        print(f"daemon from scratch: {time.perf_counter() - t0:.2f} s from process start to the first sync done "
              f"(its sync: {first:.2f} s)")
        before = await metric(prefix, "kubeproxy_sync_proxy_rules_duration_seconds_count")
        eps_obj = await client.get(Endpoints, f"svc-{services // 2}")
        eps_obj.subsets[0].addresses[0].ip = "10.250.0.99"
        t0 = time.perf_counter()
        await client.update(eps_obj)
        while True:  # poll the proxy's sync counter (a separate process: no event to wait on)
            if await metric(prefix, "kubeproxy_sync_proxy_rules_duration_seconds_count") != before:
                break
            await asyncio.sleep(0.02)
        last = await metric(prefix, "kubeproxy_sync_proxy_rules_last_duration_seconds") or 0.0
        print(f"daemon one endpoint change: {(time.perf_counter() - t0) * 1000:.0f} ms from the update call to "
              f"the sync done (its sync: {last * 1000:.0f} ms)")
        syncs = [line for line in (tmp / "proxy.log").read_text().splitlines() if '"synced rules"' in line]
        for label, line in (("first", syncs[0]), ("change", syncs[-1])):
            entry = json.loads(line)
            print(f"  proxy log, {label} sync: " + ", ".join(
                f"{k}={entry[k]}" for k in ("mode", "chains_written", "chains_deleted", "transactions",
                                            "restore_bytes", "build_ms", "restore_ms", "total_ms")))
        forwarder.close()
        await client.close()
        ok = True
    finally:
        if proxy is not None and proxy.returncode is None:
            proxy.terminate()
            await proxy.wait()
        if ns_created:
            subprocess.run(["ip", "netns", "del", tag], check=False)
        stop_all(procs)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--endpoints", type=int, default=10)
    p.add_argument("--single", action="store_true", help="also time one unchunked restore (slow)")
    p.add_argument("--daemon", action="store_true", help="time the real daemon over a real apiserver instead")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/proxy_sync.py needs root (network namespaces, iptables)")
    if args.daemon:
        asyncio.run(run_daemon_mode(args.services, args.endpoints))
    else:
        asyncio.run(run(args.services, args.endpoints, args.single))


if __name__ == "__main__":
    main()

"""Apiserver throughput: pod creates/s through the real kvstore + apiserver, and
List latency as the object count grows to 10,000; and what access control costs.

Run: `python bench/apiserver.py [pods] [--pods 2000] [--total 10000] [--concurrency 64]`,
or `python bench/apiserver.py access [--objects 2000] [--concurrency 32] [--rounds 2]`,
or `python bench/apiserver.py watch [--watchers 1000] [--writes 50]` (one write seen by N gRPC
watchers: apiserver_watch.py),
or `python bench/apiserver.py http ...` (the HTTPS API beside gRPC and N HTTPS watchers: apiserver_http.py):
ConfigMap creates/s and List latency against two apiservers on real kvstore
processes, one plain (no TLS, AlwaysAllow) and one as `kubelite up` runs it (TLS
with client certificates, authentication, `--authorization-mode Node,RBAC`, the
user granted by a RoleBinding), with the secured/plain ratio (target >= 0.8x).
Prints figures; asserts nothing (speed targets live here, not in tests).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT, cpu_seconds, create_default_service_account, start_control_plane, stop_all
from profiling import profile_apiserver, stop_profile

from kubelite.api import ConfigMap, Container, ObjectMeta, Pod, PodSpec
from kubelite.client import ApiClient
from kubelite.client.tls import ClientTLS
from kubelite.pb.kubelite import api_pb2
from kubelite.pki import certs
from kubelite.wire import jsoncodec

BENCH_USER = "bench-user"


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


@dataclass
class ListFigures:
    """Median figures of one List size: seconds of the raw RPC, wall and client CPU seconds of the
    typed List call (`ApiClient.list`: items are built when read), client CPU of that List plus
    reading every item (every model built; collections the models cause included), client CPU of
    `list_raw` (dicts: what kctl decodes), and the item count. CPU stays comparable on a busy machine."""

    raw: float
    typed: float
    typed_cpu: float
    all_read_cpu: float
    dicts_cpu: float
    count: int


async def time_list(client: ApiClient, runs: int, selector: str = "") -> ListFigures:
    raw, typed, cpu, all_read, dicts = [], [], [], [], []
    count = 0
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        resp = await client.transport.List(api_pb2.ListRequest(resource="pods", namespace="default", label_selector=selector))
        raw.append(time.perf_counter() - t0)
        count = len(resp.items)
        del resp
        t0, c0 = time.perf_counter(), time.process_time()
        listed = await client.list(Pod, namespace="default", label_selector=selector)
        typed.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        phases = [p.status.phase for p in listed.items]
        all_read.append(time.process_time() - c0)
        del listed, phases
        gc.collect()
        c0 = time.process_time()
        await client.list_raw("pods", "default", label_selector=selector)
        dicts.append(time.process_time() - c0)
    m = statistics.median
    return ListFigures(m(raw), m(typed), m(cpu), m(all_read), m(dicts), count)


def print_list(what: str, f: ListFigures) -> None:
    print(f"list {what}: rpc {f.raw * 1000:7.1f} ms, with client decode {f.typed * 1000:7.1f} ms "
          f"(client CPU {f.typed_cpu * 1000:.0f} ms; reading every item {f.all_read_cpu * 1000:.0f} ms; "
          f"list_raw {f.dicts_cpu * 1000:.0f} ms)")


def time_kctl_get(server: str, tmp: Path, runs: int = 3) -> tuple[float, float]:
    """(median wall, median CPU seconds) of `kctl get pods -A` as a user runs it: a fresh process
    with its bytecode cached (as an installed kctl has; an untimed first run writes the cache)."""
    config = tmp / "kctl.yaml"
    config.write_text(f"server: {server}\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(KUBELITE_CONFIG=str(config), PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
    walls, cpus = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kubectl.main", "get", "pods", "-A"], env=env, cwd=ROOT,
                       stdout=subprocess.DEVNULL, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            walls.append(time.perf_counter() - t0)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


async def bench_pods(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        procs: list = []
        try:
            server = await start_control_plane(Path(tmp), procs, kv_members=args.kv_members)
            client = ApiClient.connect(server)
            await create_default_service_account(client)
            prof = profile_apiserver(args, procs)
            api0, kv0 = cpu_seconds(procs[-1].pid), [cpu_seconds(p.pid) for p in procs[:-1]]
            elapsed, lat = await create_many(client, 0, args.pods, args.concurrency)
            api_cpu = cpu_seconds(procs[-1].pid) - api0
            kv_each = [cpu_seconds(p.pid) - c for p, c in zip(procs[:-1], kv0, strict=True)]
            kv_cpu = sum(kv_each)
            lat.sort()
            print(f"create {args.pods} pods, {args.concurrency} in flight: {args.pods / elapsed:,.0f} creates/s, "
                  f"p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms")
            print(f"create CPU per pod: apiserver {api_cpu / args.pods * 1e6:,.0f} us, "
                  f"kvstore ({len(procs) - 1} members together) {kv_cpu / args.pods * 1e6:,.0f} us "
                  f"({' + '.join(f'{c / args.pods * 1e6:,.0f}' for c in kv_each)}; the apiserver talks to the first)")
            stop_profile(prof)
            if args.creates_only:
                await client.close()
                return
            small = await time_list(client, 5)
            await create_many(client, args.pods, args.total - args.pods, args.concurrency)
            big = await time_list(client, 5)
            sel = await time_list(client, 5, "shard=3")
            print_list(f"{small.count:>6} pods", small)
            print_list(f"{big.count:>6} pods", big)
            print_list(f"{sel.count:>6} pods by label of {big.count}", sel)
            print(f"ratio list time {big.count}/{small.count} objects: {big.raw / small.raw:.1f}x for "
                  f"{big.count / max(small.count, 1):.1f}x the objects")
            n_big = big.count
            wall, cpu = time_kctl_get(server, Path(tmp))
            print(f"kctl get pods -A on {n_big} pods: {wall:.2f} s wall, {cpu:.2f} s CPU (target <= 1.0 s wall); "
                  f"JSON: {jsoncodec.backend()}")
            await client.close()
        finally:
            stop_all(procs)


# ------------------------------------------------------------------ access control cost

def mint_pki(pki: Path) -> tuple[list[str], ClientTLS, ClientTLS]:
    """A CA, the apiserver's serving pair, an admin (system:masters) and the bench user.

    Returns the apiserver's TLS flags and the two clients' settings. Why a
    non-masters user: `system:masters` skips authorization, so only an ordinary
    user's requests pay for the RBAC walk the comparison is about.
    """
    ca = certs.create_ca("bench-ca")
    certs.save(pki, "ca", ca)
    specs = [certs.CertSpec("apiserver", "ca", "kube-apiserver", ips=("127.0.0.1",), dns_names=("localhost",),
                            server=True),
             certs.CertSpec("admin", "ca", "bench-admin", organizations=("system:masters",), client=True),
             certs.CertSpec("user", "ca", BENCH_USER, organizations=("bench-writers",), client=True)]
    for spec in specs:
        certs.save(pki, spec.name, certs.issue(spec, ca))
    ca_file = str(certs.cert_path(pki, "ca"))

    def tls(name: str) -> ClientTLS:
        return ClientTLS(ca_file, str(certs.cert_path(pki, name)), str(certs.key_path(pki, name)))
    flags = ["--tls-cert-file", str(certs.cert_path(pki, "apiserver")),
             "--tls-private-key-file", str(certs.key_path(pki, "apiserver")), "--client-ca-file", ca_file,
             "--authorization-mode", "Node,RBAC"]
    return flags, tls("admin"), tls("user")


async def grant(admin: ApiClient, namespace: str) -> None:
    """What a cluster admin does for a team: a namespace, a ClusterRole, a RoleBinding to the user."""
    await admin.create_raw("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    await admin.create_raw("rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "bench-configmaps", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bench-configmaps"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": BENCH_USER}],
    }, namespace)


@dataclass
class Figures:
    creates_per_s: float
    p99_ms: float
    list_ms: float
    listed: int


async def measure(client: ApiClient, namespace: str, n: int, concurrency: int) -> Figures:
    """Create `n` ConfigMaps with `concurrency` in flight, then time List of the namespace (median of 5)."""
    await client.list(ConfigMap, namespace=namespace, limit=1)  # connect (TLS handshake) outside the timing
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < n:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            await client.create(ConfigMap(metadata=ObjectMeta(name=f"cm-{i:06d}", namespace=namespace),
                                          data={"index": str(i), "payload": "x" * 200}))
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    runs, listed = [], 0
    for _ in range(5):
        t1 = time.perf_counter()
        listed = len((await client.list(ConfigMap, namespace=namespace)).items)
        runs.append(time.perf_counter() - t1)
    return Figures(n / elapsed, latencies[int(len(latencies) * 0.99)] * 1000, statistics.median(runs) * 1000, listed)


async def bench_access(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        procs: list = []
        try:
            flags, admin_tls, user_tls = mint_pki(tmp / "pki")
            plain_addr = await start_control_plane(tmp / "plain", procs)
            secure_addr = await start_control_plane(tmp / "secure", procs, flags)
            plain = ApiClient.connect(plain_addr)
            admin = ApiClient.connect(secure_addr, credentials=admin_tls.credentials())
            user = ApiClient.connect(secure_addr, credentials=user_tls.credentials())
            await admin.create_raw("clusterroles", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "bench-configmaps"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                           "verbs": ["create", "get", "list", "watch", "update", "delete"]}]})
            results: dict[str, list[Figures]] = {"plain": [], "secure": []}
            # Rounds alternate so a noisy neighbour on a shared machine hits both sides alike.
            for r in range(args.rounds):
                for name, client, grantor in (("plain", plain, plain), ("secure", user, admin)):
                    namespace = f"bench-{r}"
                    await grant(grantor, namespace)
                    fig = await measure(client, namespace, args.objects, args.concurrency)
                    results[name].append(fig)
                    print(f"round {r + 1} {name:6}: {fig.creates_per_s:7,.0f} creates/s (p99 {fig.p99_ms:6.1f} ms), "
                          f"list {fig.listed} configmaps {fig.list_ms:6.1f} ms")
            best = {k: max(v, key=lambda f: f.creates_per_s) for k, v in results.items()}
            list_ms = {k: min(f.list_ms for f in v) for k, v in results.items()}
            print(f"plain  (no TLS, AlwaysAllow)                : {best['plain'].creates_per_s:7,.0f} creates/s, "
                  f"list {list_ms['plain']:6.1f} ms")
            print(f"secure (TLS client certs, Node,RBAC as user): {best['secure'].creates_per_s:7,.0f} creates/s, "
                  f"list {list_ms['secure']:6.1f} ms")
            print(f"ratio secure/plain: creates {best['secure'].creates_per_s / best['plain'].creates_per_s:.2f}x, "
                  f"list speed {list_ms['plain'] / list_ms['secure']:.2f}x (target >= 0.8x)")
            for c in (plain, admin, user):
                await c.close()
        finally:
            stop_all(procs)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", default="pods", choices=["pods", "access", "http", "watch"])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--total", type=int, default=10000)
    parser.add_argument("--kv-members", type=int, default=3, help="pods: kvstore members behind the apiserver")
    parser.add_argument("--concurrency", type=int, default=None, help="requests in flight (pods: 64, access: 32)")
    parser.add_argument("--objects", type=int, default=2000, help="access: ConfigMaps created per side and round")
    parser.add_argument("--rounds", type=int, default=2, help="access: alternating plain/secure rounds")
    parser.add_argument("--watchers", type=int, default=1000, help="http, watch: watchers")
    parser.add_argument("--writes", type=int, default=50, help="http, watch: writes the watchers must all see")
    parser.add_argument("--client-procs", type=int, default=0,
                        help="watch: run the watchers in this many client processes (0: in this one)")
    parser.add_argument("--py-spy", default="", metavar="DIR",
                        help="pods, watch: py-spy records the apiserver and the kvstore members during the "
                             "measured phase into DIR")
    parser.add_argument("--creates-only", action="store_true",
                        help="pods: stop after the creates (no Lists, no kctl): quicker when working on creates")
    args = parser.parse_args()
    if args.what == "watch":
        from apiserver_watch import bench_watch

        await bench_watch(args)
    elif args.what == "http":
        from apiserver_http import bench_http

        args.concurrency = args.concurrency or 32
        await bench_http(args, mint_pki, measure)
    elif args.what == "access":
        args.concurrency = args.concurrency or 32
        await bench_access(args)
    else:
        args.concurrency = args.concurrency or 64
        await bench_pods(args)


if __name__ == "__main__":
    asyncio.run(main())

"""Pod start latency on a real 3-node runc cluster, next to the floor of a bare `runc run`.

Run (root, runc, conmon, CNI plugins, docker-registry): `python bench/pod_startup.py [--pods 100]`.

1. `kubelite up --nodes 3 --runtime runc` in a temporary directory (own ports,
   own bridge), then one warm-up pod per node so every node has pulled and
   unpacked the local busybox image (a pull is not pod start).
2. `--sequential` pods one at a time on the otherwise idle cluster (the
   latency of one pod start), then `--pods` busybox pods (`sleep 3600`) at
   once (a burst: throughput-bound on 2 cores), then `--pods` more created at
   a steady `--rate` (default 5 pods/s, below what the cluster sustains, as
   the latency pods of Kubernetes' density tests are). Each is timed from the
   create call to the watch showing it Running (all containers running, as
   the kubelet reports it); prints p50/p90/p99/max.
3. The floor, measured in the same run: a bare `runc run` of a copy of one of
   those pods' own bundles (same rootfs, spec and pod namespaces, a cgroup
   next to the pods'; no conmon, no CNI, no kubelet), `--floor-runs` times, then
   `--floor-burst` of them at once: what runc alone allows a burst on this machine.

Prints figures and ratios; asserts nothing. `kubelite down` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import end_local_cluster, up_local_cluster  # noqa: E402

from kubectl.config import load_config  # noqa: E402
from kubelite.api import Container, ObjectMeta, Pod, PodSpec  # noqa: E402
from kubelite.client import ApiClient  # noqa: E402

FLOOR_CGROUP = "bench-floor"


def make_pod(name: str, node: str | None = None) -> Pod:
    spec = PodSpec(containers=[Container(name="main", image="busybox", command=["sleep", "3600"])],
                   termination_grace_period_seconds=1)
    if node:
        spec.node_selector = {"kubernetes.io/hostname": node}
    return Pod(metadata=ObjectMeta(name=name, namespace="default", labels={"app": "bench"}), spec=spec)


def is_running(pod: Pod) -> bool:
    statuses = pod.status.container_statuses
    return pod.status.phase == "Running" and bool(statuses) and all(s.state.running is not None for s in statuses)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run_pods(client: ApiClient, names: list[str], nodes: list[str | None], timeout: float,
                   interval: float = 0.0) -> dict[str, float]:
    """Create the pods (all at once, or one every `interval` seconds); seconds from each create
    call to the watch showing it Running."""
    listing = await client.list(Pod, "default", label_selector="app=bench")
    started: dict[str, float] = {}
    done: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        async for ev in client.watch(Pod, "default", resource_version=listing.resource_version,
                                     label_selector="app=bench"):
            name = ev.object.metadata.name or ""
            if name in started and name not in done and is_running(ev.object):
                done[name] = loop.time() - started[name]
                if len(done) == len(names):
                    return

    watcher = asyncio.create_task(watch())

    async def create(name: str, node: str | None) -> None:
        started[name] = loop.time()
        await client.create(make_pod(name, node))

    if interval <= 0:
        await asyncio.gather(*(create(n, node) for n, node in zip(names, nodes, strict=True)))
    else:  # a steady rate: each create starts on its own tick, whatever the previous ones are doing
        t0 = loop.time()
        creates = []
        for i, (n, node) in enumerate(zip(names, nodes, strict=True)):
            await asyncio.sleep(max(0.0, t0 + i * interval - loop.time()))
            creates.append(asyncio.create_task(create(n, node)))
        await asyncio.gather(*creates)
    try:
        await asyncio.wait_for(watcher, timeout)
    except TimeoutError:
        print(f"  timed out: {len(names) - len(done)} of {len(names)} pods not Running after {timeout:.0f}s")
    return done


def cpu_seconds(data_dir: Path) -> dict[str, float]:
    """CPU time (own + waited-for children such as runc and CNI plugins) of each cluster daemon."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for proc in json.loads((data_dir / "cluster.json").read_text())["processes"]:
        try:
            stat = Path(f"/proc/{proc['pid']}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        out[proc["name"]] = sum(int(x) for x in fields[11:15]) / ticks
    return out


def machine_counters() -> tuple[float, int]:
    """(busy CPU seconds of the whole machine, processes forked) since boot, from /proc/stat:
    the burst's share of these counts what the per-daemon figures cannot see (conmon, which
    runs `runc create` and `runc init`, is nobody's waited-for child). Other work on the
    machine counts too: read it on a quiet machine, or as an upper bound."""
    busy, forks = 0.0, 0
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts[0] == "cpu":  # user nice system idle iowait irq softirq steal ...
            busy = sum(int(x) for i, x in enumerate(parts[1:9]) if i not in (3, 4)) / os.sysconf("SC_CLK_TCK")
        elif parts[0] == "processes":
            forks = int(parts[1])
    return busy, forks


def start_spies(data_dir: Path, out_dir: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy recording every kubelet and the apiserver (collapsed stacks in out_dir/<name>.txt);
    `stop_spies` ends them (SIGINT: py-spy writes its file then)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spies = []
    for proc in json.loads((data_dir / "cluster.json").read_text())["processes"]:
        if proc["name"].startswith("kubelet-") or proc["name"] == "apiserver":
            spies.append(subprocess.Popen(["py-spy", "record", "--format", "raw", "--rate", "100", "--nonblocking",
                                           "-o", str(out_dir / f"{proc['name']}.txt"), "--pid", str(proc["pid"])],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)  # py-spy attaches before the burst begins
    return spies


def stop_spies(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        spy.wait(30)


def find_bundle(data_dir: Path) -> Path | None:
    """A running container's bundle dir (config.json + mounted rootfs) under the nodes' state."""
    for config in sorted((data_dir / "nodes").glob("*/**/containers/*/config.json")):
        if (config.parent / "rootfs" / "bin").exists():
            return config.parent
    return None


def floor_bundle(source: Path, work: Path) -> Path:
    """Copy of `source`'s spec run bare: same rootfs and namespaces (it joins the pod's network,
    IPC and UTS namespaces like the pod's containers do), `true` as the process, no cgroup parent."""
    spec: dict[str, Any] = json.loads((source / "config.json").read_text())
    spec["root"] = {"path": str(source / "rootfs"), "readonly": True}
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["terminal"] = False
    linux = spec.setdefault("linux", {})
    linux["namespaces"] = [ns for ns in linux.get("namespaces", []) if ns.get("type") != "user"]
    # The floor's own cgroup sits where the pods' do, next to them under the node's
    # (<parent>/<node>/pod-<id>/<container> -> <parent>/<node>/bench-floor): left to runc
    # it would be at the top of the hierarchy with the pod's cpu.shares (2 without
    # requests), i.e. weight 2 against every busy process of the machine, and on a shared
    # machine the floor measured CFS starving runc init (seconds), not runc.
    linux["cgroupsPath"] = str(Path(linux["cgroupsPath"]).parent.parent / FLOOR_CGROUP)
    spec.pop("hooks", None)
    # Mounts of pod volumes and /etc files point at the pod's dirs: keep only the kernel filesystems.
    spec["mounts"] = [m for m in spec.get("mounts", []) if m.get("type") in ("proc", "tmpfs", "devpts",
                                                                              "mqueue", "sysfs", "cgroup")]
    bundle = work / "floor-bundle"
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def remove_floor_cgroup(bundle: Path) -> None:
    """rmdir the floor's cgroup in every controller (runc leaves it on cgroup v1); before
    `kubelite down`, which removes the node's cgroup only when it is empty."""
    path = json.loads((bundle / "config.json").read_text())["linux"]["cgroupsPath"]
    for ctrl in Path("/sys/fs/cgroup").iterdir():
        if ctrl.is_dir() and not ctrl.is_symlink():
            with contextlib.suppress(OSError):
                (ctrl / path.strip("/")).rmdir()


def measure_floor(bundle: Path, runs: int) -> list[float]:
    try:
        return _measure_floor(bundle, runs)
    finally:
        remove_floor_cgroup(bundle)


def _measure_floor(bundle: Path, runs: int) -> list[float]:
    return [_bare_run(bundle, f"floor-{os.getpid()}-{i}") for i in range(runs)]


def _bare_run(bundle: Path, cid: str) -> float:
    """One bare `runc run` of `bundle` to completion; its wall time."""
    root = bundle.parent / "runc-root"
    t0 = time.perf_counter()
    proc = subprocess.run(["runc", "--root", str(root), "run", "--bundle", str(bundle), cid],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        subprocess.run(["runc", "--root", str(root), "delete", "--force", cid], capture_output=True)
        raise RuntimeError(f"bare runc run failed: {proc.stderr.strip()}")
    return took


def measure_floor_burst(bundle: Path, runs: int) -> tuple[float, float]:
    """`runs` bare `runc run`s all at once (as the pod burst starts its pods): (containers/s, CPU
    seconds per container of runc and `runc init`, from this process's waited-for children)."""
    try:
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=runs) as pool:
            list(pool.map(lambda i: _bare_run(bundle, f"floorburst-{os.getpid()}-{i}"), range(runs)))
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        remove_floor_cgroup(bundle)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return runs / wall, cpu / runs


STAGES = (("pod sandbox ready", "namespaces_ms"), ("pod sandbox ready", "network_ms"),
          ("container started", "create_ms"), ("container started", "network_wait_ms"),
          ("container started", "start_ms"))


def stage_breakdown(data_dir: Path, prefix: str) -> str:
    """p50/max of the stages the runc runtime logs for the pods named `prefix*` (all nodes'
    kubelet logs): namespaces, CNI ADD, conmon + `runc create` (which overlaps the CNI ADD),
    the wait for the network left after it, `runc start`. See bench/README.md."""
    values: dict[str, list[float]] = {key: [] for _, key in STAGES}
    for log_file in sorted((data_dir / "logs").glob("kubelet-*.log")):
        for line in log_file.read_text(errors="replace").splitlines():
            if f"/{prefix}" not in line:
                continue
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                for msg, key in STAGES:
                    if doc.get("msg") == msg and key in doc and str(doc.get("pod", "")).startswith(f"default/{prefix}"):
                        values[key].append(float(doc[key]))
    parts = [f"{key[:-3]} {statistics.median(v):.0f}/{max(v):.0f}" for key, v in values.items() if v]
    return ("stages (kubelet log, ms p50/max): " + ", ".join(parts)) if parts else "stages: none logged"


async def bench(args: argparse.Namespace, data_dir: Path) -> None:
    t0 = time.monotonic()
    offset, net_id = up_local_cluster(data_dir, nodes=3)
    # The cluster speaks mutual TLS: connect as the admin with what `up` wrote into --config-out.
    config = load_config(data_dir / "config")
    server = config.server or f"10.88.{net_id}.1:{6443 + offset}"
    print(f"cluster up in {time.monotonic() - t0:.1f}s (server {server})")
    tls = config.tls()
    client = ApiClient.connect(server, credentials=tls.credentials() if tls is not None else None)
    try:
        nodes = ["node-1", "node-2", "node-3"]
        warm = await run_pods(client, [f"warm-{n}" for n in nodes], list(nodes), 180)
        print("warm-up (includes image pull): " + ", ".join(f"{n} {warm.get(f'warm-{n}', float('nan')):.2f}s"
                                                             for n in nodes))
        single: list[float] = []
        for i in range(args.sequential):
            one = await run_pods(client, [f"single-{i:03d}"], [None], 60)
            single += list(one.values())
        names = [f"bench-{i:04d}" for i in range(args.pods)]
        spies = start_spies(data_dir, Path(args.py_spy)) if args.py_spy else []
        cpu0, machine0 = cpu_seconds(data_dir), machine_counters()
        t1 = time.monotonic()
        lat = await run_pods(client, names, [None] * len(names), args.timeout)
        wall = time.monotonic() - t1
        cpu1, machine1 = cpu_seconds(data_dir), machine_counters()
        stop_spies(spies)
        paced: dict[str, float] = {}
        if args.rate > 0:
            paced_names = [f"paced-{i:04d}" for i in range(args.pods)]
            t2 = time.monotonic()
            paced = await run_pods(client, paced_names, [None] * args.pods, args.timeout, 1.0 / args.rate)
            paced_wall = time.monotonic() - t2
        bundle_src = find_bundle(data_dir)
        floor: list[float] = []
        floor_burst: tuple[float, float] | None = None
        if bundle_src is not None and shutil.which("runc"):
            bare = floor_bundle(bundle_src, data_dir)
            floor = await asyncio.to_thread(measure_floor, bare, args.floor_runs)
            if args.floor_burst:
                floor_burst = await asyncio.to_thread(measure_floor_burst, bare, args.floor_burst)
        per_node: dict[str, int] = {}
        for pod in (await client.list(Pod, "default", label_selector="app=bench")).items:
            if (pod.metadata.name or "").startswith("bench-"):
                per_node[pod.spec.node_name or "?"] = per_node.get(pod.spec.node_name or "?", 0) + 1
    finally:
        await client.close()

    if single:
        print(f"\none pod at a time ({len(single)} pods, idle cluster): create -> Running "
              f"p50 {pct(single, .5) * 1000:.0f} ms   p99 {pct(single, .99) * 1000:.0f} ms   "
              f"max {max(single) * 1000:.0f} ms")
        print(f"  {stage_breakdown(data_dir, 'single-')}")
    print(f"\nburst: {len(lat)}/{args.pods} pods Running in {wall:.1f}s ({len(lat) / wall:.1f} pods/s); "
          f"spread: {dict(sorted(per_node.items()))}")
    if lat:
        values = list(lat.values())
        print(f"create -> Running   p50 {pct(values, .5) * 1000:7.0f} ms   p90 {pct(values, .9) * 1000:7.0f} ms"
              f"   p99 {pct(values, .99) * 1000:7.0f} ms   max {max(values) * 1000:7.0f} ms")
    print(f"  burst {stage_breakdown(data_dir, 'bench-')}")
    if paced:
        values = list(paced.values())
        print(f"\nsteady rate: {len(paced)}/{args.pods} pods created at {args.rate:g} pods/s, all Running "
              f"{paced_wall:.1f}s after the first create")
        print(f"create -> Running   p50 {pct(values, .5) * 1000:7.0f} ms   p90 {pct(values, .9) * 1000:7.0f} ms"
              f"   p99 {pct(values, .99) * 1000:7.0f} ms   max {max(values) * 1000:7.0f} ms")
    used = sorted(((cpu1.get(k, 0.0) - v, k) for k, v in cpu0.items()), reverse=True)
    print(f"CPU seconds during the burst ({wall:.1f}s wall, 2 cores = {2 * wall:.0f} CPU-s): "
          + ", ".join(f"{name} {sec:.1f}" for sec, name in used if sec >= 0.05))
    per_pod = 1000 / max(1, len(lat))
    kubelets = sum(sec for sec, name in used if name.startswith("kubelet-"))
    print(f"  per pod: machine busy {(machine1[0] - machine0[0]) * per_pod:.0f} ms CPU, "
          f"{(machine1[1] - machine0[1]) / max(1, len(lat)):.1f} processes forked; daemons "
          f"{sum(sec for sec, _ in used) * per_pod:.0f} ms (kubelets {kubelets * per_pod:.0f})")
    if floor:
        med = statistics.median(floor)
        print(f"bare runc run floor p50 {med * 1000:7.1f} ms   p99 {pct(floor, .99) * 1000:7.1f} ms"
              f"   ({len(floor)} runs, same rootfs, spec and pod namespaces; no conmon/CNI/kubelet)")
        if single:
            print(f"ratio one-pod p50 / floor p50: {pct(single, .5) / med:.1f}x")
        if lat:
            print(f"burst p50 / floor p50: {pct(list(lat.values()), .5) / med:.0f}x (a burst is bound by "
                  f"throughput on 2 cores: {len(lat) / wall:.1f} pods/s, i.e. {wall / max(1, len(lat)) * 1000:.0f} ms "
                  f"of machine time per pod)")
    else:
        print("floor: no bundle found to measure")
    if floor_burst is not None:
        rate, cpu = floor_burst
        print(f"bare runc run burst floor: {args.floor_burst} at once, {rate:.1f} containers/s, "
              f"{cpu * 1000:.0f} ms CPU per container (runc + runc init); on {os.cpu_count()} CPUs runc alone "
              f"allows at most {(os.cpu_count() or 1) / cpu:.0f} containers/s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pods", type=int, default=100)
    p.add_argument("--sequential", type=int, default=10, help="pods started one at a time first")
    p.add_argument("--rate", type=float, default=5.0,
                   help="then --pods more pods created at this steady rate (pods/s; 0 skips), "
                        "like the latency pods of Kubernetes' density tests")
    p.add_argument("--floor-runs", type=int, default=20)
    p.add_argument("--floor-burst", type=int, default=100, help="bare `runc run`s started at once after the "
                   "sequential floor (0 skips): the burst's floor")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for all pods")
    p.add_argument("--py-spy", metavar="DIR", help="record the kubelets and the apiserver with py-spy during "
                   "the burst (collapsed stacks in DIR/<name>.txt)")
    p.add_argument("--keep", action="store_true", help="leave the cluster running (prints its data dir)")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("pod_startup needs root (runc runtime)")
    data_dir = Path(tempfile.mkdtemp(prefix="klbench-"))
    try:
        asyncio.run(bench(args, data_dir))
    finally:
        end_local_cluster(data_dir, args.keep)


if __name__ == "__main__":
    main()

"""Resource usage of the node, its pods and containers, read from cgroup v1 and /proc.

Why read cgroups directly: every container and every pod has its own cgroup
(podcgroup.py), and the kernel already accounts CPU time (`cpuacct.usage`, ns)
and memory (`memory.usage_in_bytes`, `memory.stat`) there, so no agent like
cAdvisor is needed. Memory is reported as the working set (usage minus the
inactive file cache, floored at 0), the figure Kubernetes evicts and autoscales
on. CPU is cumulative seconds plus a rate in millicores from the previous
sample of the same cgroup; the rate is only recomputed when at least
`MIN_WINDOW` seconds passed, so two callers scraping close together (the
metrics server and `/metrics`) do not shrink each other's window to noise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from kubelite.daemon.metrics import Family
from kubelite.pb.kubelite import api_pb2

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")
MIN_WINDOW = 5.0
SAMPLE_SECONDS = 10.0  # the kubelet samples this often, so a rate is always at hand (like cAdvisor housekeeping)
# /proc/stat columns counted as busy: user nice system (idle iowait excluded) irq softirq steal
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


@dataclass(frozen=True)
class ContainerCgroup:
    name: str
    cgroup: str  # relative to each controller's root


@dataclass(frozen=True)
class PodCgroups:
    """One running pod sandbox: who it is, its pod cgroup and its containers' cgroups."""

    namespace: str
    name: str
    uid: str
    cgroup: str
    containers: list[ContainerCgroup] = field(default_factory=list)


@runtime_checkable
class CgroupSource(Protocol):
    """A runtime that knows its pods' cgroups (the runc runtime; the process runtime has none)."""

    def stats_targets(self) -> list[PodCgroups]: ...


@dataclass(frozen=True)
class Raw:
    cpu_ns: int
    working_set: int


def read_cgroup(relative: str, root: Path = CGROUP_ROOT) -> Raw | None:
    """CPU ns and working-set bytes of one cgroup; None when it is gone (a container just exited)."""
    rel = relative.strip("/")
    try:
        cpu = int((root / "cpuacct" / rel / "cpuacct.usage").read_text())
        mem = root / "memory" / rel
        usage = int((mem / "memory.usage_in_bytes").read_text())
        inactive = _stat_value((mem / "memory.stat").read_text(), "total_inactive_file")
    except (OSError, ValueError):
        return None
    return Raw(cpu, max(0, usage - inactive))


def _stat_value(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def read_node(proc: Path = PROC) -> tuple[Raw, int]:
    """The node's busy CPU ns (all CPUs, from /proc/stat) and working set = MemTotal - MemAvailable;
    also MemTotal."""
    first = (proc / "stat").read_text().splitlines()[0].split()
    ticks = sum(int(first[1 + i]) for i in _BUSY_COLUMNS if 1 + i < len(first))
    hz = os.sysconf("SC_CLK_TCK")
    info: dict[str, int] = {}
    for line in (proc / "meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            info[name] = int(parts[0]) * 1024
    total = info.get("MemTotal", 0)
    used = max(0, total - info.get("MemAvailable", info.get("MemFree", 0)))
    return Raw(ticks * 1_000_000_000 // hz, used), total


class RateTracker:
    """Per-key CPU rate between the kept sample and a new one at least `MIN_WINDOW` later."""

    def __init__(self, min_window: float = MIN_WINDOW) -> None:
        self.min_window = min_window
        # key -> (time, cpu ns, (millicores, window seconds) or None)
        self._kept: dict[str, tuple[float, int, tuple[float, float] | None]] = {}

    def millicores(self, key: str, now: float, cpu_ns: int) -> tuple[float, float] | None:
        """(millicores, window seconds) of `key`, None until two samples `min_window` apart exist."""
        kept = self._kept.get(key)
        if kept is None or cpu_ns < kept[1]:  # new cgroup, or a recreated one whose counter restarted
            self._kept[key] = (now, cpu_ns, None)
            return None
        then, ns, rate = kept
        if now - then < self.min_window:
            return rate
        rate = ((cpu_ns - ns) / (now - then) / 1e6, now - then)
        self._kept[key] = (now, cpu_ns, rate)
        return rate

    def forget_except(self, keys: set[str]) -> None:
        for key in set(self._kept) - keys:
            del self._kept[key]


class StatsCollector:
    """Samples the node and every pod/container cgroup the runtime reports, into a StatsResponse."""

    def __init__(self, node_name: str, source: CgroupSource | None, root: Path = CGROUP_ROOT, proc: Path = PROC,
                 clock: Callable[[], float] = time.time) -> None:
        self.node_name = node_name
        self.source = source
        self.root = root
        self.proc = proc
        self.clock = clock
        self.rates = RateTracker()

    def _usage(self, key: str, now: float, raw: Raw) -> api_pb2.Usage:
        usage = api_pb2.Usage(cpu_seconds=raw.cpu_ns / 1e9, memory_working_set_bytes=raw.working_set)
        rate = self.rates.millicores(key, now, raw.cpu_ns)
        if rate is not None:
            usage.cpu_millicores, usage.cpu_window_seconds = rate
        return usage

    def sample(self) -> api_pb2.StatsResponse:
        now = self.clock()
        raw, total = read_node(self.proc)
        out = api_pb2.StatsResponse(time=now, node=api_pb2.NodeStats(
            name=self.node_name, usage=self._usage("node", now, raw), memory_total_bytes=total,
            cpu_count=os.cpu_count() or 1))
        keys = {"node"}
        for pod in self.source.stats_targets() if self.source is not None else []:
            pod_raw = read_cgroup(pod.cgroup, self.root)
            if pod_raw is None:
                continue
            keys.add(pod.cgroup)
            stats = api_pb2.PodStats(namespace=pod.namespace, name=pod.name, uid=pod.uid,
                                     usage=self._usage(pod.cgroup, now, pod_raw))
            for c in pod.containers:
                c_raw = read_cgroup(c.cgroup, self.root)
                if c_raw is not None:
                    keys.add(c.cgroup)
                    stats.containers.append(api_pb2.ContainerStats(name=c.name, usage=self._usage(c.cgroup, now, c_raw)))
            out.pods.append(stats)
        self.rates.forget_except(keys)
        return out

    async def run(self, interval: float = SAMPLE_SECONDS) -> None:
        """Sample every `interval` so a CPU rate over a recent window is ready when asked for."""
        while True:
            try:
                self.sample()
            except (OSError, ValueError) as exc:
                log.warning("cannot sample resource usage", extra={"error": str(exc)})
            await asyncio.sleep(interval)


_HELP = {
    "node_cpu_usage_seconds_total": "cumulative CPU time used by the node (all CPUs)",
    "node_memory_working_set_bytes": "node memory in use (MemTotal - MemAvailable)",
    "pod_cpu_usage_seconds_total": "cumulative CPU time used by the pod's cgroup",
    "pod_memory_working_set_bytes": "pod cgroup memory usage minus inactive file cache",
    "container_cpu_usage_seconds_total": "cumulative CPU time used by the container's cgroup",
    "container_memory_working_set_bytes": "container cgroup memory usage minus inactive file cache",
}


def metric_families(stats: api_pb2.StatsResponse) -> list[Family]:
    """The kubelet's resource metrics (names as on Kubernetes' `/metrics/resource`) for `/metrics`."""
    series: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in _HELP}
    series["node_cpu_usage_seconds_total"].append(({}, stats.node.usage.cpu_seconds))
    series["node_memory_working_set_bytes"].append(({}, float(stats.node.usage.memory_working_set_bytes)))
    for pod in stats.pods:
        labels = {"namespace": pod.namespace, "pod": pod.name}
        series["pod_cpu_usage_seconds_total"].append((labels, pod.usage.cpu_seconds))
        series["pod_memory_working_set_bytes"].append((labels, float(pod.usage.memory_working_set_bytes)))
        for c in pod.containers:
            clabels = {**labels, "container": c.name}
            series["container_cpu_usage_seconds_total"].append((clabels, c.usage.cpu_seconds))
            series["container_memory_working_set_bytes"].append((clabels, float(c.usage.memory_working_set_bytes)))
    return [Family(name, "counter" if name.endswith("_total") else "gauge", _HELP[name], values)
            for name, values in series.items()]

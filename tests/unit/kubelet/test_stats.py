"""Kubelet resource stats: cgroup v1 and /proc files in a temp tree, on a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelet.stats import (
    ContainerCgroup,
    PodCgroups,
    RateTracker,
    StatsCollector,
    metric_families,
    read_cgroup,
)
from kubelite.daemon.metrics import Metrics


def write_cgroup(root: Path, rel: str, cpu_ns: int, usage: int, inactive: int) -> None:
    (root / "cpuacct" / rel).mkdir(parents=True, exist_ok=True)
    (root / "cpuacct" / rel / "cpuacct.usage").write_text(f"{cpu_ns}\n")
    mem = root / "memory" / rel
    mem.mkdir(parents=True, exist_ok=True)
    (mem / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (mem / "memory.stat").write_text(f"cache 5\ninactive_file 1\ntotal_inactive_file {inactive}\n")


def write_proc(proc: Path, busy_ticks: int) -> None:
    proc.mkdir(exist_ok=True)
    # user nice system idle iowait irq softirq steal
    (proc / "stat").write_text(f"cpu  {busy_ticks} 0 0 999999 77 0 0 0 0 0\ncpu0 1 2 3\n")
    (proc / "meminfo").write_text("MemTotal:       2000 kB\nMemFree:         100 kB\nMemAvailable:    500 kB\n")


class Source:
    def __init__(self, pods: list[PodCgroups]) -> None:
        self.pods = pods

    def stats_targets(self) -> list[PodCgroups]:
        return self.pods


def test_working_set_is_usage_minus_inactive_file(tmp_path: Path) -> None:
    write_cgroup(tmp_path, "k/pod-a/c1", 3_000_000_000, 10_000, 4_000)
    raw = read_cgroup("/k/pod-a/c1", tmp_path)
    assert raw is not None and raw.cpu_ns == 3_000_000_000 and raw.working_set == 6_000
    write_cgroup(tmp_path, "k/pod-a/c2", 0, 1_000, 4_000)
    again = read_cgroup("k/pod-a/c2", tmp_path)
    assert again is not None and again.working_set == 0  # floored, never negative


def test_gone_cgroup_is_none(tmp_path: Path) -> None:
    assert read_cgroup("k/pod-x/gone", tmp_path) is None


def test_rate_needs_two_samples_a_window_apart_and_resets_on_a_new_counter() -> None:
    r = RateTracker(min_window=1.0)
    assert r.millicores("c", 100.0, 1_000_000_000) is None
    assert r.millicores("c", 100.5, 1_400_000_000) is None  # too soon: kept sample stays
    assert r.millicores("c", 102.0, 2_000_000_000) == pytest.approx((500.0, 2.0))  # 1 s of CPU in 2 s
    assert r.millicores("c", 102.2, 9_000_000_000) == pytest.approx((500.0, 2.0))  # within the window: last rate
    assert r.millicores("c", 104.0, 10) is None  # counter went back: a recreated cgroup


def test_collector_reports_node_pods_and_containers(tmp_path: Path) -> None:
    cg, proc = tmp_path / "cg", tmp_path / "proc"
    write_proc(proc, 1000)
    write_cgroup(cg, "k/pod-s", 1_000_000_000, 50_000, 0)
    write_cgroup(cg, "k/pod-s/c1", 900_000_000, 40_000, 1_000)
    pod = PodCgroups("default", "web", "u1", "k/pod-s",
                     [ContainerCgroup("app", "/k/pod-s/c1"), ContainerCgroup("gone", "/k/pod-s/c2")])
    now = [1000.0]
    collector = StatsCollector("node-1", Source([pod]), cg, proc, clock=lambda: now[0])
    first = collector.sample()
    assert first.node.name == "node-1" and first.node.memory_total_bytes == 2000 * 1024
    assert first.node.usage.memory_working_set_bytes == 1500 * 1024
    assert not first.node.usage.HasField("cpu_millicores")
    [p] = first.pods
    assert (p.namespace, p.name, p.uid) == ("default", "web", "u1")
    assert [c.name for c in p.containers] == ["app"]  # an exited container's cgroup is skipped
    assert p.containers[0].usage.cpu_seconds == pytest.approx(0.9)
    assert p.containers[0].usage.memory_working_set_bytes == 39_000

    now[0] += 10.0
    write_cgroup(cg, "k/pod-s/c1", 5_900_000_000, 40_000, 1_000)  # 5 s of CPU in 10 s
    write_proc(proc, 1000 + 10 * 100)
    second = collector.sample()
    assert second.pods[0].containers[0].usage.cpu_millicores == pytest.approx(500.0)
    assert second.pods[0].containers[0].usage.cpu_window_seconds == pytest.approx(10.0)
    assert second.node.usage.HasField("cpu_millicores")


def test_metrics_page_has_labelled_resource_series(tmp_path: Path) -> None:
    cg, proc = tmp_path / "cg", tmp_path / "proc"
    write_proc(proc, 10)
    write_cgroup(cg, "k/pod-s", 2_000_000_000, 100, 0)
    write_cgroup(cg, "k/pod-s/c1", 2_000_000_000, 100, 0)
    collector = StatsCollector("n", Source([PodCgroups("ns", "p", "u", "k/pod-s", [ContainerCgroup("c", "k/pod-s/c1")])]),
                               cg, proc)
    m = Metrics()
    m.collector(lambda: metric_families(collector.sample()))
    text = m.render()
    assert "# TYPE container_cpu_usage_seconds_total counter" in text
    assert 'container_cpu_usage_seconds_total{container="c",namespace="ns",pod="p"} 2.0' in text
    assert 'pod_memory_working_set_bytes{namespace="ns",pod="p"} 100.0' in text
    assert "# TYPE node_memory_working_set_bytes gauge" in text


def test_label_values_are_escaped() -> None:
    from kubelite.daemon.metrics import Family
    m = Metrics()
    m.collector(lambda: [Family("x", "gauge", "h", [({"a": 'q"\\'}, 1.0)])])
    assert 'x{a="q\\"\\\\"} 1.0' in m.render()

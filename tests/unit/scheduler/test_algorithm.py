"""Filter -> score -> select, and how assumed pods keep a burst from overpacking."""

from __future__ import annotations

import random

from scheduler.algorithm import Algorithm
from scheduler.cache import SchedulerCache
from scheduler.framework import CycleState
from scheduler.plugins import default_profile
from scheduler.resources import make_pod_info
from tests.unit.scheduler.factories import assigned, make_node, make_pod


def algorithm(seed: int = 1, pct: int = 0) -> Algorithm:
    return Algorithm(default_profile(None), random.Random(seed), pct)


def place(alg: Algorithm, cache: SchedulerCache, name: str, cpu: str = "1", memory: str = "1Gi") -> str | None:
    pod = make_pod(name, cpu, memory)
    info = make_pod_info(pod)
    result = alg.schedule(CycleState(info), pod, cache.node_list())
    if result.node_name is not None:
        cache.assume_pod(info, result.node_name)
    return result.node_name


def test_picks_the_least_allocated_node() -> None:
    cache = SchedulerCache()
    for n in ("n1", "n2", "n3"):
        cache.add_node(make_node(n))
    cache.add_pod(assigned(make_pod("a", "2", "2Gi"), "n1"))
    cache.add_pod(assigned(make_pod("b", "1", "1Gi"), "n2"))
    assert place(algorithm(), cache, "p") == "n3"


def test_assumed_pods_prevent_overpacking_a_burst() -> None:
    cache = SchedulerCache()
    for n in ("n1", "n2"):
        cache.add_node(make_node(n, cpu="2", memory="4Gi"))
    alg = algorithm()
    placed = [place(alg, cache, f"p{i}") for i in range(5)]
    assert sorted(p for p in placed if p) == ["n1", "n1", "n2", "n2"]
    assert placed[4] is None, "the fifth 1-cpu pod fits nowhere once four are assumed"
    assert {n: v[1] for n, v in cache.dump().items()} == {"n1": 2000, "n2": 2000}


def test_burst_spreads_evenly() -> None:
    cache = SchedulerCache()
    for n in ("n1", "n2", "n3"):
        cache.add_node(make_node(n, cpu="8", memory="16Gi"))
    alg = algorithm()
    placed = [place(alg, cache, f"p{i}", cpu="1", memory="1Gi") for i in range(9)]
    assert {n: placed.count(n) for n in ("n1", "n2", "n3")} == {"n1": 3, "n2": 3, "n3": 3}


def test_failure_lists_every_node_reason() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1", cpu="1"))
    cache.add_node(make_node("n2", cpu="1"))
    cache.add_node(make_node("n3", unschedulable=True))
    pod = make_pod("big", "2")
    result = algorithm().schedule(CycleState(make_pod_info(pod)), pod, cache.node_list())
    assert result.node_name is None and result.diagnosis is not None
    assert result.diagnosis.message() == "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were unschedulable."
    assert result.diagnosis.unschedulable_plugins == {"NodeResourcesFit", "NodeUnschedulable"}


def test_ties_are_broken_by_the_injected_random_source() -> None:
    def choices(seed: int) -> list[str | None]:
        cache = SchedulerCache()
        for n in ("n1", "n2", "n3", "n4"):
            cache.add_node(make_node(n))
        alg = algorithm(seed)
        out = []
        for i in range(6):
            pod = make_pod(f"p{i}", "1")
            out.append(alg.schedule(CycleState(make_pod_info(pod)), pod, cache.node_list()).node_name)
        return out

    assert choices(7) == choices(7)
    assert len({tuple(choices(s)) for s in range(10)}) > 1
    assert set().union(*[set(choices(s)) for s in range(10)]) == {"n1", "n2", "n3", "n4"}


def test_adaptive_share_of_nodes_on_big_clusters() -> None:
    alg = algorithm()
    assert alg.num_feasible_nodes_to_find(50) == 50
    assert alg.num_feasible_nodes_to_find(1000) == 420  # (50 - 1000/125)% as kube-scheduler
    assert alg.num_feasible_nodes_to_find(5000) == 500
    assert algorithm(pct=100).num_feasible_nodes_to_find(5000) == 5000


def test_big_cluster_evaluates_a_share_and_rotates_the_start() -> None:
    cache = SchedulerCache()
    for i in range(300):
        cache.add_node(make_node(f"n{i:03d}"))
    alg = algorithm()
    pod = make_pod("p", "1")
    first = alg.schedule(CycleState(make_pod_info(pod)), pod, cache.node_list())
    assert first.evaluated_nodes == first.feasible_nodes == 144  # 300 * (50 - 300 // 125)%
    second = alg.schedule(CycleState(make_pod_info(pod)), pod, cache.node_list())
    assert second.evaluated_nodes == 144
    assert alg._next_start == 288, "the next cycle starts where the previous one stopped"


def test_replicas_of_one_owner_spread_even_on_roomy_nodes() -> None:
    cache = SchedulerCache()
    for n in ("n1", "n2"):
        cache.add_node(make_node(n, cpu="64", memory="256Gi"))
    cache.add_pod(assigned(make_pod("other", "8", "32Gi"), "n2"))  # n2 is fuller, but has no replica
    alg = algorithm()
    placed = []
    for i in range(4):
        pod = make_pod(f"web-{i}", "100m", "32Mi", owner="web-rs")
        info = make_pod_info(pod)
        node = alg.schedule(CycleState(info), pod, cache.node_list()).node_name
        assert node
        cache.assume_pod(info, node)
        placed.append(node)
    assert sorted(placed) == ["n1", "n1", "n2", "n2"]

"""Node affinity, pod (anti-)affinity, topology spread and soft taints through the
whole default profile (filter -> score -> select) on an in-memory cache."""

from __future__ import annotations

import random
from typing import Any

from kubelite.api import Pod, Taint
from scheduler.algorithm import Algorithm
from scheduler.cache import SchedulerCache
from scheduler.plugins import default_profile
from scheduler.resources import make_pod_info
from tests.unit.scheduler.factories import assigned, make_node, make_pod

HOST = "kubernetes.io/hostname"


def cluster(*names: str, zones: dict[str, str] | None = None) -> SchedulerCache:
    cache = SchedulerCache()
    for n in names:
        labels = {HOST: n}
        if zones and n in zones:
            labels["zone"] = zones[n]
        cache.add_node(make_node(n, labels=labels))
    return cache


def with_spec(pod: Pod, **spec: Any) -> Pod:
    d = pod.to_dict()
    d["spec"].update(spec)
    return Pod.from_dict(d)


def schedule(cache: SchedulerCache, pod: Pod, seed: int = 1) -> tuple[str | None, str]:
    info = make_pod_info(pod)
    state = cache.cycle_state(info)  # as the scheduler does: the cache's snapshot and affinity nodes
    result = Algorithm(default_profile(None), random.Random(seed)).schedule(state, pod, state.nodes)
    if result.node_name is not None:
        cache.assume_pod(info, result.node_name)
    return result.node_name, result.diagnosis.message() if result.diagnosis else ""


def term(op: str, key: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}


def test_required_node_affinity_filters_and_preferred_scores() -> None:
    cache = cluster("n1", "n2", "n3", zones={"n1": "a", "n2": "b", "n3": "b"})
    pod = with_spec(make_pod("p"), affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term("In", "zone", "b")]},
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "preference": term("In", HOST, "n3")}]}})
    for seed in range(5):
        assert schedule(cluster("n1", "n2", "n3", zones={"n1": "a", "n2": "b", "n3": "b"}), pod, seed)[0] == "n3"
    nowhere = with_spec(make_pod("q"), affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term("In", "zone", "z")]}}})
    node, message = schedule(cache, nowhere)
    assert node is None
    assert message == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


def anti(app: str) -> dict[str, Any]:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": HOST}]}}


def test_required_anti_affinity_puts_replicas_on_distinct_nodes_then_refuses() -> None:
    cache = cluster("n1", "n2", "n3")
    placed = set()
    for i in range(3):
        node, _ = schedule(cache, with_spec(make_pod(f"web-{i}", labels={"app": "web"}), affinity=anti("web")))
        placed.add(node)
    assert placed == {"n1", "n2", "n3"}
    node, message = schedule(cache, with_spec(make_pod("web-3", labels={"app": "web"}), affinity=anti("web")))
    assert node is None
    # The placed replicas' own anti-affinity closes every node first (kube-scheduler checks it first too).
    assert "3 node(s) didn't satisfy existing pods anti-affinity rules" in message
    plain = cluster("n1", "n2")
    plain.add_pod(assigned(make_pod("w0", labels={"app": "web"}), "n1"))
    plain.add_pod(assigned(make_pod("w1", labels={"app": "web"}), "n2"))
    node, message = schedule(plain, with_spec(make_pod("w2", labels={"app": "web"}), affinity=anti("web")))
    assert node is None and "2 node(s) didn't match pod anti-affinity rules" in message


def test_existing_pods_anti_affinity_is_symmetric() -> None:
    cache = cluster("n1", "n2")
    cache.add_pod(assigned(with_spec(make_pod("loner", labels={"app": "loner"}), affinity=anti("noisy")), "n1"))
    for seed in range(5):
        node, _ = schedule(cache, make_pod(f"noisy-{seed}", labels={"app": "noisy"}), seed)
        assert node == "n2"


def test_existing_pods_anti_affinity_ends_with_the_pod() -> None:
    """The cache's set of nodes with affinity pods follows pod removal and node deletion."""
    cache = cluster("n1", "n2")
    loner = assigned(with_spec(make_pod("loner", labels={"app": "loner"}), affinity=anti("noisy")), "n1")
    cache.add_pod(loner)
    assert [n.name for n in cache.cycle_state(make_pod_info(make_pod("x"))).affinity_nodes] == ["n1"]
    cache.remove_pod(loner)
    assert not cache.cycle_state(make_pod_info(make_pod("x"))).affinity_nodes
    assert {schedule(cache, make_pod(f"noisy-{seed}", labels={"app": "noisy"}), seed)[0]
            for seed in range(8)} == {"n1", "n2"}
    cache.add_pod(loner)
    cache.remove_node(make_node("n1"))  # a ghost entry keeps the pod counted, but closes no domain
    assert not cache.cycle_state(make_pod_info(make_pod("x"))).affinity_nodes


def test_required_affinity_follows_the_group_and_first_pod_may_start_it() -> None:
    cache = cluster("n1", "n2", "n3")
    together = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": HOST}]}}
    first, _ = schedule(cache, with_spec(make_pod("c0", labels={"app": "cache"}), affinity=together))
    assert first is not None  # self-matching: the group can start anywhere
    for i in range(1, 4):
        assert schedule(cache, with_spec(make_pod(f"c{i}", labels={"app": "cache"}), affinity=together), i)[0] == first
    stranger = with_spec(make_pod("s"), affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOST}]}})
    node, message = schedule(cache, stranger)
    assert node is None and "didn't match pod affinity rules" in message


def test_topology_spread_do_not_schedule_keeps_skew() -> None:
    cache = cluster("n1", "n2", "n3")
    cache.add_pod(assigned(make_pod("x1", labels={"app": "s"}), "n1"))
    cache.add_pod(assigned(make_pod("x2", labels={"app": "s"}), "n1"))
    cache.add_pod(assigned(make_pod("x3", labels={"app": "s"}), "n2"))
    spread = [{"maxSkew": 1, "topologyKey": HOST, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "s"}}}]
    for seed in range(5):
        fresh = cluster("n1", "n2", "n3")
        for name, node in (("x1", "n1"), ("x2", "n1"), ("x3", "n2")):
            fresh.add_pod(assigned(make_pod(name, labels={"app": "s"}), node))
        assert schedule(fresh, with_spec(make_pod("new", labels={"app": "s"}),
                                         topologySpreadConstraints=spread), seed)[0] == "n3"
    pinned = with_spec(make_pod("pinned", labels={"app": "s"}), topologySpreadConstraints=spread,
                       nodeSelector={HOST: "n1"})
    # nodeAffinityPolicy=Honor: only nodes the pod may use are domains, so n1 is its own minimum.
    assert schedule(cache, pinned)[0] == "n1"
    full = [{**spread[0], "maxSkew": 1}]
    crowded = cluster("n1", "n2")
    for name in ("y1", "y2"):
        crowded.add_pod(assigned(make_pod(name, labels={"app": "s"}), "n1"))
    stuck = with_spec(make_pod("z", "3", labels={"app": "s"}), topologySpreadConstraints=full)
    crowded.add_pod(assigned(make_pod("hog", "4"), "n2"))  # n2 has no room: only n1 fits, but skew would be 3
    node, message = schedule(crowded, stuck)
    assert node is None
    assert "1 node(s) didn't match pod topology spread constraints" in message


def test_prefer_no_schedule_taint_is_avoided_but_not_forbidden() -> None:
    cache = cluster("n1", "n2")
    n1 = cache.get_node("n1")
    assert n1 is not None and n1.node is not None
    tainted = n1.node.model_copy(deep=True)
    tainted.spec.taints = [Taint(key="soft", effect="PreferNoSchedule")]
    cache.update_node(tainted)
    for seed in range(5):
        assert schedule(cluster_with_taint(), make_pod(f"p{seed}"), seed)[0] == "n2"
    only = SchedulerCache()
    only.add_node(tainted)
    assert schedule(only, make_pod("q"))[0] == "n1"


def cluster_with_taint() -> SchedulerCache:
    cache = cluster("n1", "n2")
    n1 = cache.get_node("n1")
    assert n1 is not None and n1.node is not None
    tainted = n1.node.model_copy(deep=True)
    tainted.spec.taints = [Taint(key="soft", effect="PreferNoSchedule")]
    cache.update_node(tainted)
    return cache

"""Each filter and score plugin on its own."""

from __future__ import annotations

import random

import pytest

from kubelite.api import Pod, Taint
from scheduler.cache import SchedulerCache
from scheduler.framework import CycleState, NodeInfo, Status
from scheduler.plugins import (
    LeastAllocated,
    NodeName,
    NodePorts,
    NodeReady,
    NodeResourcesFit,
    NodeSelector,
    NodeUnschedulable,
    SelectorSpread,
    TaintToleration,
    default_profile,
)
from scheduler.plugins.least_allocated import least_requested
from scheduler.resources import make_pod_info
from tests.unit.scheduler.factories import assigned, make_node, make_pod


def run(plugin: object, pod: Pod, node_info: NodeInfo) -> Status:
    status: Status = plugin.filter(CycleState(make_pod_info(pod)), pod, node_info)  # type: ignore[attr-defined]
    return status


def node_with(name: str = "n1", *pods: Pod, **kw: object) -> NodeInfo:
    info = NodeInfo(name, make_node(name, **kw))  # type: ignore[arg-type]
    for p in pods:
        info.add_pod(make_pod_info(assigned(p, name)))
    return info


def test_node_unschedulable() -> None:
    plugin = NodeUnschedulable()
    assert run(plugin, make_pod("p"), node_with()).ok
    status = run(plugin, make_pod("p"), node_with(unschedulable=True))
    assert not status.ok and status.reasons == ("node(s) were unschedulable",)
    d = make_pod("p").to_dict()
    d["spec"]["tolerations"] = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                 "effect": "NoSchedule"}]
    tolerant = Pod.from_dict(d)
    assert run(plugin, tolerant, node_with(unschedulable=True)).ok


def test_node_ready() -> None:
    assert run(NodeReady(), make_pod("p"), node_with()).ok
    status = run(NodeReady(), make_pod("p"), node_with(ready=False))
    assert status.reasons == ("node(s) were not ready",)


def test_node_name() -> None:
    assert run(NodeName(), make_pod("p"), node_with("n1")).ok
    pinned = make_pod("p", node_name="n2")
    assert run(NodeName(), pinned, node_with("n2")).ok
    assert run(NodeName(), pinned, node_with("n1")).reasons == ("node(s) didn't match the requested node name",)


def test_node_selector() -> None:
    pod = make_pod("p", node_selector={"disk": "ssd"})
    assert run(NodeSelector(), pod, node_with(labels={"disk": "ssd", "zone": "a"})).ok
    status = run(NodeSelector(), pod, node_with(labels={"disk": "hdd"}))
    assert status.reasons == ("node(s) didn't match Pod's node affinity/selector",)
    assert run(NodeSelector(), make_pod("q"), node_with()).ok


def test_node_ports() -> None:
    busy = node_with("n1", make_pod("web", host_port=8080))
    assert not run(NodePorts(), make_pod("p", host_port=8080), busy).ok
    assert run(NodePorts(), make_pod("p", host_port=8081), busy).ok
    assert run(NodePorts(), make_pod("p"), busy).ok


@pytest.mark.parametrize(
    ("cpu", "memory", "reasons"),
    [
        ("1", "1Gi", ()),
        ("3", "1Gi", ("Insufficient cpu",)),
        ("1", "4Gi", ("Insufficient memory",)),
        ("3", "4Gi", ("Insufficient cpu", "Insufficient memory")),
    ],
)
def test_node_resources_fit(cpu: str, memory: str, reasons: tuple[str, ...]) -> None:
    # node: 4 cpu / 8Gi, already running 2 cpu / 5Gi
    info = node_with("n1", make_pod("a", "2", "5Gi"))
    assert run(NodeResourcesFit(), make_pod("p", cpu, memory), info).reasons == reasons


def test_node_resources_fit_exact_fit_is_ok() -> None:
    info = node_with("n1", make_pod("a", "3", "7Gi"))
    assert run(NodeResourcesFit(), make_pod("p", "1", "1Gi"), info).ok


def test_too_many_pods() -> None:
    info = node_with("n1", make_pod("a"), make_pod("b"), pods="2")
    assert run(NodeResourcesFit(), make_pod("p"), info).reasons == ("Too many pods",)


def test_an_allocatable_update_counts_against_the_pods_already_there() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1", cpu="4", memory="8Gi"))
    placed = assigned(make_pod("a", "2", "4Gi"), "n1")
    cache.add_pod(placed)
    pod = make_pod("p", "1", "1Gi")
    [info] = cache.node_list()
    assert run(NodeResourcesFit(), pod, info).ok
    state = CycleState(make_pod_info(pod))
    assert LeastAllocated().score_nodes(state, pod, [info]) == [(25 + 37) // 2]
    cache.update_node(make_node("n1", cpu="2", memory="8Gi"))  # the kubelet now reserves more
    assert run(NodeResourcesFit(), pod, info).reasons == ("Insufficient cpu",)
    assert LeastAllocated().score_nodes(state, pod, [info]) == [(0 + 37) // 2]
    cache.remove_pod(placed)
    assert run(NodeResourcesFit(), pod, info).ok


def test_least_allocated_prefers_emptier_nodes() -> None:
    pod = make_pod("p", "1", "1Gi")
    state = CycleState(make_pod_info(pod))
    empty = node_with("empty")
    half = node_with("half", make_pod("a", "2", "4Gi"))
    scorer = LeastAllocated()
    s_empty, s_half = scorer.score(state, pod, empty), scorer.score(state, pod, half)
    assert 0 <= s_half < s_empty <= 100
    # empty: cpu (4-1)/4 = 75, memory (8-1)/8 = 87 -> 81
    assert s_empty == (75 + 87) // 2


def test_least_requested_edges() -> None:
    assert least_requested(0, 0) == 0
    assert least_requested(5, 4) == 0
    assert least_requested(0, 4) == 100


def test_batch_scores_match_single_scores() -> None:
    pod = make_pod("p", "300m", "200Mi", owner="rs")
    state = CycleState(make_pod_info(pod))
    nodes = [node_with("a"), node_with("b", make_pod("x", "1", "1Gi", owner="rs")), node_with("c", cpu="0")]
    for plugin in (LeastAllocated(), SelectorSpread()):
        assert plugin.score_nodes(state, pod, nodes) == [plugin.score(state, pod, n) for n in nodes]


def test_batch_least_allocated_is_the_integer_rule_on_any_memory_size() -> None:
    """The batch score computes memory on floats where that is exact: it must give kube's integer
    result everywhere, including exact quotients, full nodes, huge nodes and huge requests."""
    rng = random.Random(7)
    sizes = [0, 1, 3, 100, 1024 ** 3, 96 * 1024 ** 3 + 1, 2 ** 46 - 1, 2 ** 46, 2 ** 46 + 7, 2 ** 60, 2 ** 70]
    nodes = []
    for cap in sizes + [rng.randrange(1, 2 ** 50) for _ in range(200)]:
        info = NodeInfo(f"n{len(nodes)}", make_node(f"n{len(nodes)}", memory=str(cap)))
        used = rng.choice([0, cap, cap // 3, cap // 100 * 37, rng.randrange(0, cap + 2)])
        if used:
            info.add_pod(make_pod_info(assigned(make_pod(f"u{len(nodes)}", "1", str(used)), info.name)))
        nodes.append(info)
    # A quotient just below an integer that a float division rounds up once the capacity is above
    # 2**46: such a node must take the integer rule (pod "p" below wants 1 byte).
    cap, free = 247420199837299, 244945997838926
    edge = NodeInfo("edge", make_node("edge", memory=str(cap)))
    edge.add_pod(make_pod_info(assigned(make_pod("u-edge", "1", str(cap - free - 1)), "edge")))
    nodes.append(edge)
    for want in ["1", "100", str(2 ** 30), str(2 ** 46 + 3), str(2 ** 60), str(2 ** 70)]:
        pod = make_pod("p", "300m", want)
        state = CycleState(make_pod_info(pod))
        for plugin in (LeastAllocated(), LeastAllocated(cpu_weight=1, memory_weight=3)):
            assert plugin.score_nodes(state, pod, nodes) == [plugin.score(state, pod, n) for n in nodes], want


def test_selector_spread_prefers_nodes_without_siblings() -> None:
    pod = make_pod("p", owner="rs")
    state = CycleState(make_pod_info(pod))
    nodes = [node_with("a", make_pod("s1", owner="rs"), make_pod("s2", owner="rs")),
             node_with("b", make_pod("s3", owner="rs")), node_with("c", make_pod("other", owner="x"))]
    spread = SelectorSpread()
    scores = spread.score_nodes(state, pod, nodes)
    spread.normalize_score(state, pod, scores)
    assert scores == [0, 50, 100]
    orphan = make_pod("q")
    scores = spread.score_nodes(CycleState(make_pod_info(orphan)), orphan, nodes)
    spread.normalize_score(state, orphan, scores)
    assert scores == [100, 100, 100]


def test_pre_filter_skips_filters_with_nothing_to_check() -> None:
    profile = default_profile(None)
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    plain = make_pod("p", "1")
    state = cache.cycle_state(make_pod_info(plain))
    assert profile.run_pre_filter(state, plain).ok
    # Every node Ready, none cordoned or tainted: the node-condition filters are not run either.
    assert state.skip_filter_plugins == {"NodeName", "NodeSelector", "NodePorts", "NodeAffinity",
                                         "InterPodAffinity", "PodTopologySpread", "NodeUnschedulable",
                                         "NodeReady", "TaintToleration"}
    assert [p.name for p in profile.active_filters(state)] == ["NodeResourcesFit"]
    picky = make_pod("q", node_selector={"a": "b"}, host_port=80)
    state = cache.cycle_state(make_pod_info(picky))
    profile.run_pre_filter(state, picky)
    assert state.skip_filter_plugins == {"NodeName", "NodeAffinity", "InterPodAffinity", "PodTopologySpread",
                                         "NodeUnschedulable", "NodeReady", "TaintToleration"}


def test_node_condition_filters_run_while_some_node_needs_them() -> None:
    """The cache's counts of not-ready, cordoned and tainted nodes follow node updates and deletes."""
    profile = default_profile(None)
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    cache.add_node(make_node("n2", ready=False))
    cache.add_node(make_node("n3", unschedulable=True))
    tainted = make_node("n4")
    tainted.spec.taints = [Taint(key="dedicated", value="db", effect="NoSchedule")]
    cache.add_node(tainted)

    def active() -> list[str]:
        pod = make_pod("p", "1")
        state = cache.cycle_state(make_pod_info(pod))
        profile.run_pre_filter(state, pod)
        return [p.name for p in profile.active_filters(state)]

    assert active() == ["NodeUnschedulable", "NodeReady", "TaintToleration", "NodeResourcesFit"]
    cache.update_node(make_node("n2"))  # Ready now
    cache.remove_node(tainted)
    assert active() == ["NodeUnschedulable", "NodeResourcesFit"]
    cache.add_pod(assigned(make_pod("x", "1"), "n3"))
    cache.remove_node(make_node("n3", unschedulable=True))  # a ghost (it still has a pod) is not counted
    assert active() == ["NodeResourcesFit"]
    cache.update_node(make_node("n1", unschedulable=True))
    assert active() == ["NodeUnschedulable", "NodeResourcesFit"]


def test_taint_toleration() -> None:
    tainted = node_with()
    assert tainted.node is not None
    tainted.node.spec.taints = [Taint(key="dedicated", value="db", effect="NoSchedule"),
                                Taint(key="soft", effect="PreferNoSchedule")]
    tainted.set_node(tainted.node)  # what a node update does: facts are re-read
    status = run(TaintToleration(), make_pod("p"), tainted)
    assert status.reasons == ("node(s) had untolerated taint {dedicated: db}",)

    def with_tolerations(*tolerations: dict[str, str]) -> Pod:
        d = make_pod("p").to_dict()
        d["spec"]["tolerations"] = list(tolerations)
        return Pod.from_dict(d)

    assert run(TaintToleration(), with_tolerations({"key": "dedicated", "value": "db"}), tainted).ok
    assert run(TaintToleration(), with_tolerations({"key": "dedicated", "operator": "Exists"}), tainted).ok
    assert run(TaintToleration(), with_tolerations({"operator": "Exists"}), tainted).ok
    assert not run(TaintToleration(), with_tolerations({"key": "dedicated", "value": "web"}), tainted).ok
    assert not run(TaintToleration(), with_tolerations({"key": "dedicated", "operator": "Exists",
                                                        "effect": "NoExecute"}), tainted).ok
    assert run(TaintToleration(), make_pod("p"), node_with()).ok

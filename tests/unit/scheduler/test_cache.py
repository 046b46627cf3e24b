"""NodeInfo totals and the cache's assume / confirm / forget / expire lifecycle."""

from __future__ import annotations

from scheduler.cache import SchedulerCache
from scheduler.framework import NodeInfo
from scheduler.resources import make_pod_info
from tests.unit.scheduler.factories import assigned, make_node, make_pod

MI = 1024 * 1024


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_node_info_totals_follow_adds_and_removes() -> None:
    info = NodeInfo("n1", make_node("n1"))
    a = make_pod_info(make_pod("a", "500m", "100Mi", host_port=80))
    b = make_pod_info(make_pod("b", "250m"))
    info.add_pod(a)
    info.add_pod(b)
    assert (len(info.pods), info.requested_cpu, info.requested_memory) == (2, 750, 100 * MI)
    assert info.used_ports[("0.0.0.0", "TCP", 80)] == 1
    info.add_pod(a)  # re-adding the same pod does not double count
    assert info.requested_cpu == 750
    info.remove_pod(a.uid)
    assert (len(info.pods), info.requested_cpu, info.requested_memory) == (1, 250, 0)
    assert not info.used_ports
    assert info.remove_pod("missing") is None


def test_node_info_counts_init_container_rule() -> None:
    init = [{"name": "init", "resources": {"requests": {"cpu": "3"}}}]
    info = NodeInfo("n1", make_node("n1"))
    info.add_pod(make_pod_info(make_pod("a", "1", init=init)))
    assert info.requested_cpu == 3000


def test_assumed_pod_counts_until_forgotten() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = make_pod("p", "1")
    cache.assume_pod(make_pod_info(pod), "n1")
    assert cache.is_assumed(pod)
    assert cache.dump()["n1"] == (1, 1000, 0)
    assert cache.forget_pod(pod)
    assert cache.dump()["n1"] == (0, 0, 0)
    assert not cache.forget_pod(pod)


def test_informer_confirms_assumed_pod_without_double_counting() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = make_pod("p", "1")
    cache.assume_pod(make_pod_info(pod), "n1")
    cache.finish_binding(pod)
    cache.add_pod(assigned(pod, "n1"))
    assert not cache.is_assumed(pod)
    assert cache.dump()["n1"] == (1, 1000, 0)
    assert not cache.forget_pod(pod), "a confirmed pod is not forgotten by a late bind failure"
    assert cache.remove_pod(pod)
    assert cache.dump()["n1"] == (0, 0, 0)


def test_a_pod_update_keeps_its_requests_and_follows_its_owner() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = assigned(make_pod("p", "500m", "100Mi", uid="u1"), "n1")
    cache.add_pod(pod)
    adopted = assigned(make_pod("p", "500m", "100Mi", uid="u1", owner="rs"), "n1")  # a controller adopts it
    cache.update_pod(adopted)
    [info] = cache.node_list()
    assert (len(info.pods), info.requested_cpu, info.requested_memory) == (1, 500, 100 * MI)
    assert dict(info.owner_counts) == {"uid-rs": 1}
    assert info.pods["u1"].pod is adopted


def test_assumed_pod_expires_only_after_binding_finished_and_ttl() -> None:
    clock = FakeClock()
    cache = SchedulerCache(assume_ttl=30, clock=clock)
    cache.add_node(make_node("n1"))
    pod = make_pod("p", "1")
    cache.assume_pod(make_pod_info(pod), "n1")
    clock.now += 100
    assert cache.cleanup_expired() == [], "bind still in flight: never expires"
    cache.finish_binding(pod)
    clock.now += 29
    assert cache.cleanup_expired() == []
    clock.now += 2
    assert [i.key for i in cache.cleanup_expired()] == ["default/p"]
    assert cache.dump()["n1"] == (0, 0, 0)


def test_pods_on_unknown_nodes_are_kept_on_a_ghost_entry() -> None:
    cache = SchedulerCache()
    pod = assigned(make_pod("p", "1"), "later")
    cache.add_pod(pod)
    assert cache.node_list() == []
    cache.add_node(make_node("later"))
    [info] = cache.node_list()
    assert info.requested_cpu == 1000
    cache.remove_node(make_node("later"))
    assert cache.node_list() == []
    cache.remove_pod(pod)
    assert cache.dump() == {}


def test_recreated_pod_with_same_name_is_a_different_pod() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    old = assigned(make_pod("p", "1", uid="u-old"), "n1")
    new = make_pod("p", "2", uid="u-new")
    cache.add_pod(old)
    cache.assume_pod(make_pod_info(new), "n1")
    assert cache.dump()["n1"] == (2, 3000, 0)
    cache.remove_pod(old)
    assert cache.dump()["n1"] == (1, 2000, 0)


def test_node_list_is_sorted_and_cached() -> None:
    cache = SchedulerCache()
    for name in ("b", "a", "c"):
        cache.add_node(make_node(name))
    first = cache.node_list()
    assert [n.name for n in first] == ["a", "b", "c"]
    cache.update_node(make_node("b", cpu="8"))
    assert cache.node_list() is first, "a node update does not rebuild the list"
    assert first[1].facts.cpu == 8000

"""What informer events mean for the cache and the queue."""

from __future__ import annotations

from scheduler.cache import SchedulerCache
from scheduler.eventhandlers import EventHandlers, node_change_events
from scheduler.framework import ClusterEvent
from scheduler.plugins import default_profile
from scheduler.queue import SchedulingQueue
from scheduler.resources import make_pod_info
from tests.unit.scheduler.factories import assigned, make_node, make_pod


def setup() -> tuple[SchedulerCache, SchedulingQueue, EventHandlers]:
    profile = default_profile(None)
    cache = SchedulerCache()
    queue = SchedulingQueue(profile.events_for, profile.registered_events(), initial_backoff=0.0)
    return cache, queue, EventHandlers(cache, queue)


def test_pending_pods_of_our_scheduler_are_queued_others_are_not() -> None:
    cache, queue, h = setup()
    h.on_pod_add(make_pod("mine"))
    h.on_pod_add(make_pod("theirs", scheduler_name="other-scheduler"))
    h.on_pod_add(make_pod("done", phase="Succeeded"))
    h.on_pod_add(assigned(make_pod("bound", "1"), "n1"))
    assert queue.counts()["active"] == 1 and queue.where("default/mine") == "active"
    assert cache.dump()["n1"] == (1, 1000, 0)


def test_assumed_pod_is_not_requeued_by_a_stale_update() -> None:
    cache, queue, h = setup()
    pod = make_pod("p")
    h.on_pod_add(pod)
    qpi = queue.pop_nowait()
    assert qpi
    cache.assume_pod(qpi.info, "n1")
    queue.done(qpi.key)
    newer = pod.copy_deep()
    newer.metadata.resource_version = "9"
    h.on_pod_update(pod, newer)  # e.g. a status write that raced with our bind
    assert len(queue) == 0
    h.on_pod_update(newer, assigned(newer, "n1"))  # the informer confirms the bind
    assert not cache.is_assumed(pod) and cache.dump()["n1"][0] == 1


def test_deleting_an_assigned_pod_frees_room_and_retries_parked_pods() -> None:
    cache, queue, h = setup()
    h.on_node_add(make_node("n1", cpu="1"))
    running = assigned(make_pod("running", "1"), "n1")
    h.on_pod_add(running)
    h.on_pod_add(make_pod("waiting", "1"))
    qpi = queue.pop_nowait()
    assert qpi
    queue.add_unschedulable(qpi, frozenset({"NodeResourcesFit"}))
    h.on_pod_delete(running)
    assert cache.dump()["n1"] == (0, 0, 0)
    assert queue.where("default/waiting") == "active"


def test_finished_pods_stop_counting() -> None:
    cache, _, h = setup()
    pod = assigned(make_pod("job", "1"), "n1")
    h.on_pod_add(pod)
    finished = pod.copy_deep()
    finished.status.phase = "Succeeded"
    h.on_pod_update(pod, finished)
    assert cache.dump().get("n1", (0, 0, 0)) == (0, 0, 0)


def test_deleting_a_pending_pod_removes_it_from_the_queue() -> None:
    _, queue, h = setup()
    pod = make_pod("p")
    h.on_pod_add(pod)
    terminating = pod.copy_deep()
    terminating.metadata.deletion_timestamp = "2026-01-01T00:00:00Z"
    h.on_pod_update(pod, terminating)
    assert len(queue) == 0
    h.on_pod_add(pod)
    h.on_pod_delete(pod)
    assert len(queue) == 0


def test_node_heartbeat_changes_nothing_but_allocatable_and_readiness_do() -> None:
    old = make_node("n1")
    beat = old.copy_deep()
    beat.status.conditions[0].last_heartbeat_time = "2026-01-01T00:00:10Z"
    assert node_change_events(old, beat) == []
    bigger = make_node("n1", cpu="8")
    assert node_change_events(old, bigger) == [ClusterEvent.NODE_ALLOCATABLE_CHANGE]
    assert node_change_events(make_node("n1", ready=False), old) == [ClusterEvent.NODE_CONDITION_CHANGE]
    assert node_change_events(old, make_node("n1", unschedulable=True)) == [
        ClusterEvent.NODE_SPEC_UNSCHEDULABLE_CHANGE]
    assert node_change_events(old, make_node("n1", labels={"a": "b"})) == [ClusterEvent.NODE_LABEL_CHANGE]


def test_node_events_retry_parked_pods() -> None:
    cache, queue, h = setup()
    h.on_node_add(make_node("n1", cpu="1"))
    h.on_pod_add(make_pod("big", "2"))
    qpi = queue.pop_nowait()
    assert qpi
    queue.add_unschedulable(qpi, frozenset({"NodeResourcesFit"}))
    h.on_node_update(make_node("n1", cpu="1"), make_node("n1", cpu="1"))
    assert queue.where("default/big") == "unschedulable"
    h.on_node_add(make_node("n2", cpu="4"))
    assert queue.where("default/big") == "active"
    assert [n.name for n in cache.node_list()] == ["n1", "n2"]
    h.on_node_delete(make_node("n2"))
    assert [n.name for n in cache.node_list()] == ["n1"]


def test_make_pod_info_key() -> None:
    assert make_pod_info(make_pod("p", namespace="ns")).key == "ns/p"

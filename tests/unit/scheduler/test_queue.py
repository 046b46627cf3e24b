"""The scheduling queue: ordering, parking, targeted moves, backoff and flushes."""

from __future__ import annotations

import pytest

from scheduler.framework import ClusterEvent
from scheduler.plugins import default_profile
from scheduler.queue import QueueClosed, SchedulingQueue
from tests.unit.scheduler.factories import make_pod


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def new_queue(clock: FakeClock) -> SchedulingQueue:
    profile = default_profile(None)
    return SchedulingQueue(profile.events_for, profile.registered_events(), initial_backoff=1.0,
                           max_backoff=10.0, unschedulable_timeout=30.0, clock=clock)


def test_fifo_within_priority_and_higher_priority_first() -> None:
    q = new_queue(FakeClock())
    q.add(make_pod("a"))
    q.add(make_pod("b"))
    urgent = make_pod("c")
    urgent.spec.priority = 1000
    q.add(urgent)
    assert [q.pop_nowait().key for _ in range(3)] == ["default/c", "default/a", "default/b"]  # type: ignore[union-attr]
    assert q.pop_nowait() is None


async def test_pop_waits_for_a_pod_and_close_wakes_it() -> None:
    import asyncio

    q = new_queue(FakeClock())
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    q.add(make_pod("a"))
    assert (await asyncio.wait_for(waiter, 1)).key == "default/a"
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    q.close()
    with pytest.raises(QueueClosed):
        await asyncio.wait_for(waiter, 1)


def test_parked_pod_moves_only_on_events_its_rejectors_care_about() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add(make_pod("cpu-hungry"))
    q.add(make_pod("picky"))
    hungry, picky = q.pop_nowait(), q.pop_nowait()
    assert hungry and picky
    q.add_unschedulable(hungry, frozenset({"NodeResourcesFit"}))
    q.add_unschedulable(picky, frozenset({"NodeSelector"}))
    assert q.counts()["unschedulable"] == 2
    clock.now += 60  # past any backoff
    assert q.move_all_to_active(ClusterEvent.NODE_CONDITION_CHANGE) == 0, "a heartbeat-like change retries nobody"
    assert q.move_all_to_active(ClusterEvent.ASSIGNED_POD_DELETE) == 1
    assert q.where("default/cpu-hungry") == "active"
    assert q.move_all_to_active(ClusterEvent.NODE_LABEL_CHANGE) == 1
    assert q.where("default/picky") == "active"


def test_node_add_retries_everyone_and_recent_failures_wait_out_their_backoff() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add(make_pod("a"))
    qpi = q.pop_nowait()
    assert qpi
    q.add_unschedulable(qpi, frozenset({"NodeResourcesFit"}))
    assert q.move_all_to_active(ClusterEvent.NODE_ADD) == 1
    assert q.where("default/a") == "backoff", "failed just now: first backoff is 1s"
    assert q.flush_backoff_completed() == 0
    clock.now += 1.0
    assert q.flush_backoff_completed() == 1
    assert q.where("default/a") == "active"


def test_backoff_doubles_and_is_capped() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add(make_pod("a"))
    durations = []
    for _ in range(6):
        clock.now += 100
        q.flush_backoff_completed()
        qpi = q.pop_nowait()
        assert qpi
        q.add_backoff(qpi)
        durations.append(q.backoff_expiry(qpi) - clock.now)
    assert durations == [1, 2, 4, 8, 10, 10]


def test_leftover_flush_retries_pods_parked_too_long() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add(make_pod("a"))
    qpi = q.pop_nowait()
    assert qpi
    q.add_unschedulable(qpi, frozenset({"NodeResourcesFit"}))
    clock.now += 29
    assert q.flush_unschedulable_leftover() == 0
    clock.now += 1
    assert q.flush_unschedulable_leftover() == 1
    assert q.where("default/a") == "active"


def test_event_during_the_cycle_is_not_lost() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add(make_pod("a"))
    qpi = q.pop_nowait()
    assert qpi
    q.move_all_to_active(ClusterEvent.NODE_ADD)  # while "a" was being scheduled
    q.add_unschedulable(qpi, frozenset({"NodeResourcesFit"}))
    assert q.where("default/a") == "backoff"


def test_own_status_write_does_not_requeue_but_a_spec_change_does() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    pod = make_pod("a", "1")
    q.add(pod)
    qpi = q.pop_nowait()
    assert qpi
    q.add_unschedulable(qpi, frozenset({"NodeResourcesFit"}))
    clock.now += 60
    with_status = pod.copy_deep()
    with_status.status.conditions = []
    with_status.metadata.resource_version = "7"
    q.update(pod, with_status)
    assert q.where("default/a") == "unschedulable"
    relabelled = with_status.copy_deep()
    relabelled.metadata.labels["x"] = "y"
    q.update(with_status, relabelled)
    assert q.where("default/a") == "active"


def test_deleted_while_in_flight_is_not_requeued() -> None:
    q = new_queue(FakeClock())
    pod = make_pod("a")
    q.add(pod)
    qpi = q.pop_nowait()
    assert qpi
    q.delete(pod)
    q.add_unschedulable(qpi, frozenset())
    q.add_backoff(qpi)
    assert len(q) == 0 and q.where("default/a") is None


def test_adding_a_known_pod_updates_instead_of_duplicating() -> None:
    q = new_queue(FakeClock())
    q.add(make_pod("a"))
    q.add(make_pod("a", "1"))
    qpi = q.pop_nowait()
    assert qpi and qpi.info.requests.cpu == 1000
    assert q.pop_nowait() is None


def test_unregistered_events_only_retry_pods_nobody_in_particular_rejected() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add(make_pod("no-nodes"))
    q.add(make_pod("too-big"))
    no_nodes, too_big = q.pop_nowait(), q.pop_nowait()
    assert no_nodes and too_big
    q.add_unschedulable(no_nodes, frozenset())
    q.add_unschedulable(too_big, frozenset({"NodeResourcesFit"}))
    clock.now += 60
    assert q.move_all_to_active(ClusterEvent.ASSIGNED_POD_ADD) == 1
    assert q.where("default/no-nodes") == "active"
    assert q.where("default/too-big") == "unschedulable"
    assert q.move_all_to_active(ClusterEvent.ASSIGNED_POD_ADD) == 0

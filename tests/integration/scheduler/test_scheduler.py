"""The scheduler against a real kvstore + apiserver: spreading, Unschedulable, recovery.

The scheduler runs in-process on the same event loop as the test; nodes are
plain Node objects whose status (Ready, allocatable) the test writes like a
kubelet would. Everything is awaited by polling with a deadline.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest

from kubelite.api import Event, Node, Pod
from kubelite.client import ApiClient
from scheduler.scheduler import Scheduler
from tests.polling import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")




async def ready_node(client: ApiClient, name: str, cpu: str, memory: str = "4Gi") -> Node:
    node = await client.create(Node.from_dict({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}))
    node.status = Node.from_dict({"status": {
        "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
        "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
    }}).status
    return await client.update_status(node)


async def create_pod(client: ApiClient, name: str, cpu: str, memory: str = "64Mi") -> Pod:
    return await client.create(Pod.from_dict({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.35", "command": ["sleep", "3600"],
                                 "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
    }))


@asynccontextmanager
async def running_scheduler(client: ApiClient, **kw: Any) -> AsyncIterator[Scheduler]:
    sched = Scheduler(client, rng=random.Random(42), **kw)
    task = asyncio.create_task(sched.run())
    try:
        await eventually(lambda: _synced(sched), "scheduler informers to sync")
        yield sched
    finally:
        await sched.stop()
        await asyncio.wait_for(task, 10)


async def _synced(sched: Scheduler) -> bool:
    return sched.has_synced


async def test_spreads_pods_reports_unschedulable_and_recovers(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    await ready_node(client, "node-a", cpu="2")
    await ready_node(client, "node-b", cpu="2")
    async with running_scheduler(client):
        for i in range(4):
            await create_pod(client, f"small-{i}", cpu="500m")

        async def all_bound() -> dict[str, str] | None:
            pods = (await client.list(Pod, "default")).items
            placed = {p.metadata.name or "": p.spec.node_name or "" for p in pods if p.metadata.name.startswith("small-")}
            return placed if len(placed) == 4 and all(placed.values()) else None

        placed = await eventually(all_bound, "the small pods to be bound")
        assert Counter(placed.values()) == {"node-a": 2, "node-b": 2}, "least-allocated spreads the pods"

        await create_pod(client, "big", cpu="3")
        message = "0/2 nodes are available: 2 Insufficient cpu."

        async def unschedulable() -> Pod | None:
            pod = await client.get(Pod, "big")
            cond = next((c for c in pod.status.conditions if c.type == "PodScheduled"), None)
            ok = cond is not None and cond.status == "False" and cond.reason == "Unschedulable"
            return pod if ok and cond is not None and cond.message == message else None

        pod = await eventually(unschedulable, "PodScheduled=False on the big pod")
        assert not pod.spec.node_name

        async def failed_event() -> Event | None:
            events = (await client.list(Event, "default",
                                        field_selector="involvedObject.name=big,involvedObject.namespace=default")).items
            return next((e for e in events if e.reason == "FailedScheduling"), None)

        event = await eventually(failed_event, "a FailedScheduling event")
        assert event.type == "Warning" and event.message == message

        await ready_node(client, "node-c", cpu="4")

        async def bound_big() -> str | None:
            return (await client.get(Pod, "big")).spec.node_name or None

        assert await eventually(bound_big, "the big pod to be scheduled on the new node") == "node-c"
        pod = await client.get(Pod, "big")
        cond = next(c for c in pod.status.conditions if c.type == "PodScheduled")
        assert cond.status == "True"

        async def scheduled_event() -> Event | None:
            events = (await client.list(Event, "default", field_selector="involvedObject.name=big")).items
            return next((e for e in events if e.reason == "Scheduled"), None)

        event = await eventually(scheduled_event, "a Scheduled event")
        assert event.type == "Normal" and event.message == "Successfully assigned default/big to node-c"


async def test_deleting_a_pod_makes_room_for_a_waiting_one(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    await ready_node(client, "solo", cpu="1")
    async with running_scheduler(client):
        await create_pod(client, "first", cpu="800m")

        async def bound(name: str) -> str | None:
            return (await client.get(Pod, name)).spec.node_name or None

        assert await eventually(lambda: bound("first"), "first pod bound") == "solo"
        await create_pod(client, "second", cpu="800m")

        async def parked() -> bool:
            pod = await client.get(Pod, "second")
            return any(c.type == "PodScheduled" and c.reason == "Unschedulable" for c in pod.status.conditions)

        await eventually(parked, "second pod to be reported unschedulable")
        await client.delete(Pod, "first", grace_period_seconds=0)
        assert await eventually(lambda: bound("second"), "second pod bound after the first is gone") == "solo"


async def test_pods_for_other_schedulers_and_cordoned_nodes(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    await ready_node(client, "open", cpu="2")
    cordoned = await ready_node(client, "cordoned", cpu="8")
    cordoned.spec.unschedulable = True
    await client.update(cordoned)
    async with running_scheduler(client):
        other = Pod.from_dict({
            "metadata": {"name": "other"},
            "spec": {"schedulerName": "someone-else", "containers": [{"name": "c", "image": "busybox"}]},
        })
        await client.create(other)
        for i in range(3):
            await create_pod(client, f"p{i}", cpu="100m")

        async def placed() -> list[str] | None:
            pods = [await client.get(Pod, f"p{i}") for i in range(3)]
            nodes = [p.spec.node_name or "" for p in pods]
            return nodes if all(nodes) else None

        assert await eventually(placed, "pods bound") == ["open", "open", "open"]
        assert not (await client.get(Pod, "other")).spec.node_name


async def test_keeps_scheduling_after_the_apiserver_restarts(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    await ready_node(client, "node-a", cpu="2")
    async with running_scheduler(client) as sched:
        await create_pod(client, "before", cpu="100m")

        async def bound(name: str) -> str | None:
            return (await client.get(Pod, name)).spec.node_name or None

        assert await eventually(lambda: bound("before"), "a pod bound before the restart") == "node-a"
        await control_plane.restart_apiserver()
        await create_pod(client, "after", cpu="100m")
        assert await eventually(lambda: bound("after"), "a pod bound after the restart", timeout=30) == "node-a"
        assert sched.cache.dump()["node-a"][0] == 2, "the relist did not lose or double-count pods"

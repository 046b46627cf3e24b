"""The scheduler's cycle against an in-memory fake API: bind, events, the Unschedulable condition.

No sockets: the informers are not run; the test feeds the event handlers itself.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

from kubelite.api import Event, Pod
from kubelite.api.errors import Conflict
from kubelite.client import ApiClient
from scheduler.scheduler import Scheduler
from tests.unit.scheduler.factories import make_node, make_pod


class FakeClient:
    """Records the calls the scheduler makes; pods live in a dict."""

    def __init__(self) -> None:
        self.pods: dict[str, Pod] = {}
        self.binds: list[tuple[str, str]] = []
        self.events: list[Event] = []
        self.status_writes: list[Pod] = []
        self.conflicts = 0
        self.fail_binds = False

    async def bind(self, namespace: str, name: str, node_name: str, pod_uid: str = "") -> None:
        await asyncio.sleep(0)
        if self.fail_binds:
            raise Conflict(f"pod {name} is already assigned")
        self.binds.append((f"{namespace}/{name}", node_name))

    async def create_raw(self, resource: str, obj: dict[str, Any], namespace: str | None = None,
                         **_: Any) -> dict[str, Any]:
        if resource == "events":
            self.events.append(Event.from_dict(obj))
        return obj

    async def update_raw(self, resource: str, obj: dict[str, Any], namespace: str | None = None,
                         **_: Any) -> dict[str, Any]:
        return obj

    async def get(self, cls: type[Any], name: str, namespace: str = "default") -> Any:
        return self.pods[f"{namespace}/{name}"].copy_deep()

    async def update_status(self, obj: Pod) -> Pod:
        if self.conflicts:
            self.conflicts -= 1
            raise Conflict("stale resourceVersion")
        self.status_writes.append(obj)
        self.pods[f"{obj.metadata.namespace}/{obj.metadata.name}"] = obj
        return obj


async def wait_until(check: Any, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


def new_scheduler(fake: FakeClient) -> Scheduler:
    return Scheduler(cast(ApiClient, fake), rng=random.Random(3), initial_backoff=0.0,
                     unschedulable_flush_interval=0.0)


async def drain(s: Scheduler) -> None:
    """Run every cycle the active queue has, with binds, without the informers."""
    while (qpi := s.queue.pop_nowait()) is not None:
        binding = s.schedule_one(qpi)
        if binding is not None:
            await binding
    await s.recorder.flush()
    await asyncio.sleep(0)


async def test_binds_and_records_scheduled_events() -> None:
    fake = FakeClient()
    s = new_scheduler(fake)
    s.handlers.on_node_add(make_node("n1"))
    s.handlers.on_node_add(make_node("n2"))
    for i in range(4):
        pod = make_pod(f"p{i}", "1", "1Gi")
        fake.pods[f"default/p{i}"] = pod
        s.handlers.on_pod_add(pod)
    await drain(s)
    assert sorted(node for _, node in fake.binds) == ["n1", "n1", "n2", "n2"]
    scheduled = [e for e in fake.events if e.reason == "Scheduled"]
    assert len(scheduled) == 4 and all(e.type == "Normal" for e in scheduled)
    assert any(e.message == f"Successfully assigned default/p0 to {dict(fake.binds)['default/p0']}" for e in scheduled)
    await s.recorder.close()


async def test_unschedulable_pod_gets_condition_and_warning_once() -> None:
    fake = FakeClient()
    s = new_scheduler(fake)
    s.handlers.on_node_add(make_node("n1", cpu="1"))
    s.handlers.on_node_add(make_node("n2", cpu="1"))
    pod = make_pod("big", "2")
    fake.pods["default/big"] = pod
    s.handlers.on_pod_add(pod)
    fake.conflicts = 1  # the first write races with someone else: refetch and retry
    await drain(s)
    await wait_until(lambda: len(fake.status_writes) == 1)
    [written] = fake.status_writes
    [cond] = [c for c in written.status.conditions if c.type == "PodScheduled"]
    assert (cond.status, cond.reason) == ("False", "Unschedulable")
    assert cond.message == "0/2 nodes are available: 2 Insufficient cpu."
    [event] = [e for e in fake.events if e.reason == "FailedScheduling"]
    assert event.type == "Warning" and event.message == cond.message
    assert s.queue.where("default/big") == "unschedulable"

    # Our own status write comes back through the informer: no retry, no new write.
    s.handlers.on_pod_update(pod, written)
    assert s.queue.where("default/big") == "unschedulable"
    # The periodic flush retries it; same outcome, so the condition is not rewritten.
    assert s.queue.flush_unschedulable_leftover() == 1
    await drain(s)
    await asyncio.sleep(0.01)
    assert len(fake.status_writes) == 1
    assert s.queue.where("default/big") == "unschedulable"

    # A bigger node arrives: the pod is retried and bound there.
    s.handlers.on_node_add(make_node("n3", cpu="4"))
    s.queue.flush_backoff_completed()
    await drain(s)
    assert fake.binds == [("default/big", "n3")]
    await s.recorder.close()
    await s.conditions.close()


async def test_failed_bind_forgets_the_assumption_and_backs_off() -> None:
    fake = FakeClient()
    fake.fail_binds = True
    s = new_scheduler(fake)
    s.handlers.on_node_add(make_node("n1"))
    pod = make_pod("p", "1")
    fake.pods["default/p"] = pod
    s.handlers.on_pod_add(pod)
    await drain(s)
    assert s.cache.dump()["n1"] == (0, 0, 0)
    assert s.queue.where("default/p") == "backoff"
    assert any(e.reason == "FailedScheduling" and e.message.startswith("Binding rejected: Conflict")
               for e in fake.events)
    await s.recorder.close()

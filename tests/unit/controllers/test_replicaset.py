"""ReplicaSet controller reconciles against an in-memory API with a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controllers.base import ControllerContext
from controllers.informers import InformerFactory
from controllers.replicaset.controller import ReplicaSetController
from kubelite.api import Pod, ReplicaSet
from kubelite.api.errors import Conflict
from tests.unit.controllers.builders import T0, pod, replica_set
from tests.unit.controllers.memapi import FakeClock, MemoryApi, RecordingRecorder, set_phase

KEY = "default/rs"


class Env:
    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.api = MemoryApi(self.clock)
        self.factory = InformerFactory(self.api.client)
        self.recorder = RecordingRecorder(self.api.client)
        self.ctrl = ReplicaSetController(ControllerContext(self.api.client, self.factory, self.recorder,
                                                           clock=self.clock))
        self.api.attach(self.factory)

    def live(self) -> list[Pod]:
        return [p for p in self.api.stored(Pod) if p.metadata.deletion_timestamp is None]

    def names(self) -> list[str]:
        return sorted(p.metadata.name or "" for p in self.live())

    def rs(self) -> ReplicaSet:
        rs = self.api.get(ReplicaSet, "rs")
        assert rs is not None
        return rs

    def scale(self, replicas: int) -> None:
        self.api.mutate(ReplicaSet, "rs", lambda rs: setattr(rs.spec, "replicas", replicas))

    async def sync(self) -> None:
        await self.ctrl.reconcile(KEY)


@pytest.fixture
def env() -> Iterator[Env]:
    yield Env()


def fresh(replicas: int, min_ready: int = 0) -> ReplicaSet:
    """A ReplicaSet as just created: empty status."""
    rs = replica_set("rs", replicas)
    rs.status = ReplicaSet().status
    rs.spec.min_ready_seconds = min_ready or None
    return rs


async def test_creates_the_shortfall_once_and_writes_status(env: Env) -> None:
    env.api.put(fresh(3))
    await env.sync()
    pods = env.live()
    assert len(pods) == 3
    for p in pods:
        ref = p.metadata.controller_ref()
        assert ref is not None and (ref.kind, ref.uid) == ("ReplicaSet", "uid-rs")
        assert p.metadata.labels == {"app": "web"} and (p.metadata.name or "").startswith("rs-")
    assert env.recorder.reasons() == ["SuccessfulCreate"] * 3
    assert env.rs().status.observed_generation == 1, "status of the pods seen before acting (as Kubernetes)"
    await env.sync()
    assert len(env.live()) == 3, "steady state: nothing more"
    st = env.rs().status
    assert (st.replicas, st.ready_replicas, st.available_replicas) == (3, 0, 0)


async def test_a_lagging_cache_never_doubles_creations(env: Env) -> None:
    env.api.put(fresh(2))
    env.api.hold()  # the informer does not see our creations yet
    await env.sync()
    with pytest.raises(Conflict):  # its status write is based on the stale cached ReplicaSet: retried later
        await env.sync()
    assert len(env.api.stored(Pod)) == 2, "expectations hold back the second pass"
    env.api.flush()
    assert env.ctrl.expectations.satisfied(KEY)
    await env.sync()
    assert len(env.api.stored(Pod)) == 2


async def test_scale_down_deletes_in_kubernetes_rank_order(env: Env) -> None:
    env.api.put(fresh(7))
    candidates = [
        pod("unscheduled", node=None, phase="Pending", ready=False, owner_uid="uid-rs"),
        pod("pending", phase="Pending", ready=False, owner_uid="uid-rs"),
        pod("not-ready", ready=False, owner_uid="uid-rs"),
        pod("ready-briefly", ready_at=50, owner_uid="uid-rs"),
        pod("restarted", ready_at=10, restarts=5, owner_uid="uid-rs"),
        pod("newer", ready_at=10, created=5, owner_uid="uid-rs"),
        pod("keeper", ready_at=10, owner_uid="uid-rs"),
    ]
    for p in candidates:
        env.api.put(p)
    expected_order = ["unscheduled", "pending", "not-ready", "ready-briefly", "restarted", "newer"]
    for keep in range(6, 0, -1):
        env.scale(keep)
        await env.sync()
        gone = expected_order[: 7 - keep]
        assert env.names() == sorted(n for n in [p.metadata.name or "" for p in candidates] if n not in gone)
    assert env.names() == ["keeper"]
    assert env.recorder.reasons().count("SuccessfulDelete") == 6


async def test_terminating_pods_are_replaced_and_their_updates_count_as_deletions(env: Env) -> None:
    env.api.graceful_pods = True  # bound pods get a deletionTimestamp first (the kubelet finishes)
    env.api.put(fresh(3))
    for name in ("a", "b", "c"):
        env.api.put(pod(name, owner_uid="uid-rs"))
    env.scale(1)
    await env.sync()
    assert len(env.live()) == 1 and len(env.api.stored(Pod)) == 3, "two terminating"
    assert env.ctrl.expectations.satisfied(KEY), "the deletionTimestamp update was observed as the deletion"
    await env.sync()
    assert env.rs().status.replicas == 1 and len(env.live()) == 1
    env.scale(2)
    await env.sync()
    assert len(env.live()) == 2, "a terminating pod does not count: one new pod"


async def test_adopts_matching_orphans_and_releases_pods_that_stop_matching(env: Env) -> None:
    env.api.put(pod("orphan"))
    env.api.put(fresh(1))
    await env.sync()
    orphan = env.api.get(Pod, "orphan")
    assert orphan is not None and (ref := orphan.metadata.controller_ref()) is not None and ref.uid == "uid-rs"
    assert env.names() == ["orphan"], "adopted instead of creating"
    env.api.mutate(Pod, "orphan", lambda p: setattr(p.metadata, "labels", {"app": "other"}))
    await env.sync()
    released = env.api.get(Pod, "orphan")
    assert released is not None and released.metadata.controller_ref() is None
    assert len(env.live()) == 2, "a replacement for the released pod"


async def test_finished_pods_are_neither_counted_nor_adopted(env: Env) -> None:
    env.api.put(pod("done", phase="Succeeded", ready=False))
    env.api.put(fresh(1))
    await env.sync()
    done = env.api.get(Pod, "done")
    assert done is not None and done.metadata.controller_ref() is None
    assert len(env.live()) == 2


async def test_available_after_min_ready_seconds(env: Env) -> None:
    env.api.put(fresh(1, min_ready=10))
    await env.sync()
    (p,) = env.live()
    env.api.mutate(Pod, p.metadata.name or "", lambda q: set_phase(q, "Running", True, T0))
    await env.sync()
    st = env.rs().status
    assert (st.ready_replicas, st.available_replicas) == (1, 0)
    env.clock.advance(10)
    await env.sync()
    assert env.rs().status.available_replicas == 0, "ready exactly minReadySeconds is not yet available"
    env.clock.advance(1)
    await env.sync()
    assert env.rs().status.available_replicas == 1


async def test_deleted_replica_set_forgets_its_expectations(env: Env) -> None:
    env.api.put(fresh(2))
    env.api.hold()
    await env.sync()
    assert not env.ctrl.expectations.satisfied(KEY)
    env.api.finish_delete(ReplicaSet, "rs")
    env.api.flush()
    await env.sync()
    assert env.ctrl.expectations.satisfied(KEY)

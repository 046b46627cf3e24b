"""Deployment controller reconciles against an in-memory API with a fixed clock.

The ReplicaSet controller is played by `Env.settle()`: every ReplicaSet's
status becomes "all spec.replicas ready and available".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from controllers.base import ControllerContext
from controllers.deployment.controller import DeploymentController
from controllers.deployment.templatehash import POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION
from controllers.informers import InformerFactory
from kubelite.api import Deployment, Pod, ReplicaSet
from tests.unit.controllers.builders import T0, TEMPLATE, deployment, pod, replica_set
from tests.unit.controllers.memapi import FakeClock, MemoryApi, RecordingRecorder

KEY = "default/web"


class Env:
    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.api = MemoryApi(self.clock)
        self.factory = InformerFactory(self.api.client)
        self.recorder = RecordingRecorder(self.api.client)
        self.ctrl = DeploymentController(ControllerContext(self.api.client, self.factory, self.recorder,
                                                           clock=self.clock))
        self.api.attach(self.factory)

    def rss(self) -> list[ReplicaSet]:
        return self.api.stored(ReplicaSet)

    def sizes(self) -> dict[str, int]:
        return {rs.metadata.name or "": rs.spec.replicas or 0 for rs in self.rss()}

    def d(self) -> Deployment:
        d = self.api.get(Deployment, "web")
        assert d is not None
        return d

    def settle(self) -> None:
        """Play the ReplicaSet controller: every RS reports its spec.replicas ready and available."""
        for rs in self.rss():
            n = rs.spec.replicas or 0
            st = rs.status
            if (st.replicas, st.ready_replicas, st.available_replicas) == (n, n, n):
                continue

            def ready(obj: ReplicaSet, n: int = n) -> None:
                obj.status.replicas = obj.status.ready_replicas = obj.status.available_replicas = n
                obj.status.fully_labeled_replicas = n
                obj.status.observed_generation = obj.metadata.generation

            self.api.mutate(ReplicaSet, rs.metadata.name or "", ready)

    def change_template(self, image: str) -> None:
        def change(d: Deployment) -> None:
            d.spec.template.spec.containers[0].image = image

        self.api.mutate(Deployment, "web", change)

    async def sync(self) -> None:
        await self.ctrl.reconcile(KEY)


@pytest.fixture
def env() -> Iterator[Env]:
    yield Env()


def fresh(replicas: int, **kw: Any) -> Deployment:
    d = deployment(replicas, **kw)
    d.status = Deployment().status
    return d


async def rolled_out(env: Env, replicas: int = 3, **kw: Any) -> ReplicaSet:
    env.api.put(fresh(replicas, **kw))
    await env.sync()
    env.settle()
    await env.sync()
    (rs,) = env.rss()
    return rs


async def test_a_new_deployment_gets_one_owned_replica_set(env: Env) -> None:
    env.api.put(fresh(3))
    await env.sync()
    (rs,) = env.rss()
    ref = rs.metadata.controller_ref()
    assert ref is not None and (ref.kind, ref.uid) == ("Deployment", "uid-web")
    template_hash = rs.metadata.labels[POD_TEMPLATE_HASH_LABEL]
    assert rs.metadata.name == f"web-{template_hash}" and rs.spec.replicas == 3
    assert rs.spec.selector is not None and rs.spec.selector.match_labels[POD_TEMPLATE_HASH_LABEL] == template_hash
    assert rs.metadata.annotations[REVISION_ANNOTATION] == "1"
    assert env.d().metadata.annotations[REVISION_ANNOTATION] == "1"
    assert "ScalingReplicaSet" in env.recorder.reasons()
    await env.sync()
    assert len(env.rss()) == 1, "the same template never gets a second ReplicaSet"


async def test_rolling_update_stays_within_surge_and_availability(env: Env) -> None:
    old = await rolled_out(env, 3, surge=1, unavailable=0)
    env.change_template("busybox:1.36")
    for _ in range(20):
        await env.sync()
        rss = env.rss()
        assert sum(rs.spec.replicas or 0 for rs in rss) <= 4, "maxSurge 1"
        assert sum(rs.status.available_replicas or 0 for rs in rss) >= 3, "maxUnavailable 0"
        env.settle()
        if env.sizes().get(old.metadata.name or "") == 0:
            break
    await env.sync()
    sizes = env.sizes()
    new_name = next(n for n in sizes if n != old.metadata.name)
    assert sizes == {old.metadata.name: 0, new_name: 3}
    new = env.api.get(ReplicaSet, new_name)
    assert new is not None and new.metadata.annotations[REVISION_ANNOTATION] == "2"
    st = env.d().status
    assert (st.replicas, st.updated_replicas, st.available_replicas) == (3, 3, 3)


async def test_recreate_waits_for_old_pods_to_be_gone(env: Env) -> None:
    old = await rolled_out(env, 2, strategy="Recreate")
    env.api.put(pod("old-pod", owner_uid=old.metadata.uid))
    env.change_template("busybox:1.36")
    await env.sync()
    assert env.sizes() == {old.metadata.name: 0}, "old scaled down first"
    env.settle()
    await env.sync()
    assert len(env.rss()) == 1, "no new ReplicaSet while an old pod runs"
    env.api.finish_delete(Pod, "old-pod")
    await env.sync()
    sizes = env.sizes()
    assert len(sizes) == 2 and sizes[old.metadata.name or ""] == 0 and sorted(sizes.values()) == [0, 2]


async def test_scale_event_resizes_without_a_new_replica_set(env: Env) -> None:
    rs = await rolled_out(env, 3)
    env.api.mutate(Deployment, "web", lambda d: setattr(d.spec, "replicas", 5))
    await env.sync()
    assert env.sizes() == {rs.metadata.name: 5}


async def test_paused_deployment_does_not_roll(env: Env) -> None:
    rs = await rolled_out(env, 2)
    env.api.mutate(Deployment, "web", lambda d: setattr(d.spec, "paused", True))
    env.change_template("busybox:1.36")
    await env.sync()
    assert env.sizes() == {rs.metadata.name: 2}


async def test_complete_rollout_prunes_history_beyond_the_limit(env: Env) -> None:
    old = await rolled_out(env, 1, history=0)
    env.change_template("busybox:1.36")
    for _ in range(10):
        await env.sync()
        env.settle()
        if old.metadata.name not in env.sizes():
            break
    assert old.metadata.name not in env.sizes() and len(env.rss()) == 1


async def test_adopts_a_matching_orphan_replica_set(env: Env) -> None:
    stray = replica_set("stray", 1, template=TEMPLATE)
    env.api.put(stray)
    env.api.put(fresh(1))
    await env.sync()
    adopted = env.api.get(ReplicaSet, "stray")
    assert adopted is not None and (ref := adopted.metadata.controller_ref()) is not None
    assert ref.uid == "uid-web"


async def test_empty_selector_selects_nothing(env: Env) -> None:
    d = fresh(1)
    d.spec.selector = None
    env.api.put(d)
    await env.sync()
    assert env.rss() == [] and env.recorder.reasons() == ["SelectingAll"]

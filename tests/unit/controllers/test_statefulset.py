"""StatefulSet controller reconciles against an in-memory API: identity, order, storage, updates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from controllers.base import ControllerContext
from controllers.informers import InformerFactory
from controllers.statefulset.controller import StatefulSetController
from controllers.statefulset.plan import POD_NAME_LABEL, REVISION_LABEL, revision_name
from kubelite.api import Pod, StatefulSet
from tests.unit.controllers.memapi import FakeClock, MemoryApi, RecordingRecorder, set_phase

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "default/web"


class Env:
    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.api = MemoryApi(self.clock)
        self.api.graceful_pods = True
        self.factory = InformerFactory(self.api.client)
        self.ctrl = StatefulSetController(
            ControllerContext(self.api.client, self.factory, RecordingRecorder(self.api.client), clock=self.clock))
        self.api.attach(self.factory)

    def names(self, live_only: bool = True) -> list[str]:
        return sorted(p.metadata.name or "" for p in self.api.stored(Pod)
                      if not live_only or p.metadata.deletion_timestamp is None)

    def pod(self, name: str) -> Pod:
        pod = self.api.get(Pod, name)
        assert pod is not None, name
        return pod

    def run(self, name: str, ready: bool = True) -> None:
        """Play scheduler + kubelet: bound, Running, Ready."""
        def fn(p: Pod) -> None:
            p.spec.node_name = "n1"
            set_phase(p, "Running", ready)
        self.api.mutate(Pod, name, fn)

    def terminate(self, name: str) -> None:
        self.api.finish_delete(Pod, name)

    async def sync(self, times: int = 1) -> None:
        for _ in range(times):
            await self.ctrl.reconcile(KEY)

    def sts(self) -> StatefulSet:
        sts = self.api.get(StatefulSet, "web")
        assert sts is not None
        return sts


@pytest.fixture
def env() -> Iterator[Env]:
    yield Env()


def stateful_set(replicas: int = 3, image: str = "web:1", policy: str = "OrderedReady",
                 strategy: dict[str, Any] | None = None) -> StatefulSet:
    return StatefulSet.from_dict({"metadata": {"name": "web", "namespace": "default", "generation": 1}, "spec": {
        "replicas": replicas, "serviceName": "web-svc", "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "c", "image": image, "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
    }})


async def test_ordered_start_one_at_a_time(env: Env) -> None:
    env.api.put(stateful_set(3))
    await env.sync(3)
    assert env.names() == ["web-0"], "web-1 waits for web-0 to be Running and Ready"
    env.run("web-0", ready=False)
    await env.sync()
    assert env.names() == ["web-0"]
    env.run("web-0")
    await env.sync(2)
    assert env.names() == ["web-0", "web-1"]
    env.run("web-1")
    await env.sync()
    env.run("web-2")
    await env.sync()
    st = env.sts().status
    assert (st.replicas, st.ready_replicas, st.updated_replicas, st.current_replicas) == (3, 3, 3, 3)
    assert st.current_revision == st.update_revision == revision_name(env.sts())


async def test_identity_and_per_ordinal_volume(env: Env) -> None:
    env.api.put(stateful_set(1))
    await env.sync()
    pod = env.pod("web-0")
    assert (pod.spec.hostname, pod.spec.subdomain) == ("web-0", "web-svc")
    assert pod.metadata.labels[POD_NAME_LABEL] == "web-0"
    assert pod.metadata.labels[REVISION_LABEL] == revision_name(env.sts())
    (vol,) = pod.spec.volumes
    assert vol.name == "data" and vol.persistent_volume_claim is not None
    assert vol.persistent_volume_claim.claim_name == "data-web-0"
    (ref,) = pod.metadata.owner_references
    assert (ref.kind, ref.name, ref.controller) == ("StatefulSet", "web", True)


async def test_deleted_pod_comes_back_with_same_name_and_volume_never_twice(env: Env) -> None:
    env.api.put(stateful_set(2))
    await env.sync()
    env.run("web-0")
    await env.sync()
    env.run("web-1")
    await env.sync()
    old_uid = env.pod("web-1").metadata.uid
    await env.api.client.delete(Pod, "web-1")  # graceful: terminating, still holds the name
    await env.sync(3)
    assert env.names(live_only=False) == ["web-0", "web-1"]
    assert env.pod("web-1").metadata.uid == old_uid, "no second pod for ordinal 1 while the old one terminates"
    env.terminate("web-1")
    await env.sync()
    fresh = env.pod("web-1")
    assert fresh.metadata.uid != old_uid and fresh.metadata.deletion_timestamp is None
    assert fresh.spec.volumes[0].persistent_volume_claim is not None
    assert fresh.spec.volumes[0].persistent_volume_claim.claim_name == "data-web-1"


async def test_scale_down_highest_first_one_at_a_time(env: Env) -> None:
    env.api.put(stateful_set(3))
    for name in ("web-0", "web-1", "web-2"):
        await env.sync()
        env.run(name)
    env.api.put(stateful_set(1))
    await env.sync(2)
    assert env.names() == ["web-0", "web-1"], "web-2 goes first; web-1 waits for it"
    await env.sync()
    assert env.names() == ["web-0", "web-1"]
    env.terminate("web-2")
    await env.sync()
    assert env.names() == ["web-0"]


async def test_parallel_creates_and_deletes_at_once(env: Env) -> None:
    env.api.put(stateful_set(3, policy="Parallel"))
    await env.sync()
    assert env.names() == ["web-0", "web-1", "web-2"]
    env.api.put(stateful_set(0, policy="Parallel"))
    await env.sync()
    assert env.names() == [], "unbound pods go at once"


async def test_failed_pod_is_recreated(env: Env) -> None:
    env.api.put(stateful_set(1))
    await env.sync()
    env.api.mutate(Pod, "web-0", lambda p: set_phase(p, "Failed"))
    old_uid = env.pod("web-0").metadata.uid
    await env.sync(2)
    assert env.pod("web-0").metadata.uid != old_uid


async def test_rolling_update_reverse_order_with_partition(env: Env) -> None:
    env.api.put(stateful_set(3))
    for name in ("web-0", "web-1", "web-2"):
        await env.sync()
        env.run(name)
    await env.sync()
    old_rev = env.sts().status.current_revision
    env.api.put(stateful_set(3, image="web:2", strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))
    new_rev = revision_name(env.sts())
    await env.sync()
    assert env.pod("web-2").metadata.deletion_timestamp is not None and env.pod("web-1").metadata.deletion_timestamp is None
    env.terminate("web-2")
    await env.sync()
    assert env.pod("web-2").spec.containers[0].image == "web:2"
    assert env.pod("web-2").metadata.labels[REVISION_LABEL] == new_rev
    await env.sync()
    assert env.pod("web-1").metadata.deletion_timestamp is None, "waits for web-2 to be Ready"
    env.run("web-2")
    await env.sync()
    assert env.pod("web-1").metadata.deletion_timestamp is not None
    env.terminate("web-1")
    await env.sync()
    env.run("web-1")
    await env.sync(2)
    assert env.pod("web-0").spec.containers[0].image == "web:1", "ordinal below the partition is kept"
    st = env.sts().status
    assert (st.current_revision, st.update_revision, st.updated_replicas, st.current_replicas) == (
        old_rev, new_rev, 2, 1)


async def test_pod_below_partition_is_recreated_at_the_old_revision(env: Env) -> None:
    env.api.put(stateful_set(2))
    for name in ("web-0", "web-1"):
        await env.sync()
        env.run(name)
    await env.sync()
    old_rev = env.sts().status.current_revision
    env.api.put(stateful_set(2, image="web:2", strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}))
    await env.sync()
    assert env.names() == ["web-0", "web-1"] and env.pod("web-1").metadata.deletion_timestamp is None
    env.terminate("web-0")
    await env.sync()
    # kubelite keeps no revision history: the old template is copied from the sibling still at it
    recreated = env.pod("web-0")
    assert recreated.spec.containers[0].image == "web:1" and recreated.metadata.labels[REVISION_LABEL] == old_rev
    assert recreated.spec.hostname == "web-0" and recreated.spec.node_name is None
    assert recreated.spec.volumes[0].persistent_volume_claim is not None
    assert recreated.spec.volumes[0].persistent_volume_claim.claim_name == "data-web-0"


async def test_on_delete_updates_only_deleted_pods(env: Env) -> None:
    env.api.put(stateful_set(1, strategy={"type": "OnDelete"}))
    await env.sync()
    env.run("web-0")
    env.api.put(stateful_set(1, image="web:2", strategy={"type": "OnDelete"}))
    await env.sync(2)
    assert env.pod("web-0").spec.containers[0].image == "web:1"
    env.terminate("web-0")
    await env.sync()
    assert env.pod("web-0").spec.containers[0].image == "web:2"

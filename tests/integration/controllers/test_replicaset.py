"""The ReplicaSet controller against a real apiserver: counts, ownership, adoption, status."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.manager import ControllerManager
from kubelite.api import ConfigMap, Pod, ReplicaSet
from kubelite.api.errors import NotFound
from kubelite.client import ApiClient
from tests.integration.controllers.helpers import (
    count_is,
    mark_ready,
    pods_of,
    replica_set,
    wait_for,
)

pytestmark = pytest.mark.integration


async def set_replicas(client: ApiClient, name: str, replicas: int) -> None:
    def mutate(rs: ReplicaSet) -> None:
        rs.spec.replicas = replicas

    await client.update_with_retry(ReplicaSet, name, "default", mutate)


async def test_creates_pods_with_owner_references(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    rs = await client.create(replica_set("front", 3))
    pods = await wait_for(lambda: count_is(client, "front", 3), "3 pods")
    for pod in pods:
        assert pod.metadata.name.startswith("front-") and pod.metadata.labels == {"app": "front"}
        (ref,) = pod.metadata.owner_references
        assert (ref.api_version, ref.kind, ref.name, ref.uid) == ("apps/v1", "ReplicaSet", "front", rs.metadata.uid)
        assert ref.controller is True and ref.block_owner_deletion is True

    async def status_counts() -> ReplicaSet | None:
        fresh = await client.get(ReplicaSet, "front")
        ok = fresh.status.replicas == 3 and fresh.status.observed_generation == fresh.metadata.generation
        return fresh if ok else None

    fresh = await wait_for(status_counts, "status.replicas == 3")
    assert fresh.status.fully_labeled_replicas == 3 and not fresh.status.ready_replicas
    # nothing more is created once the count is right
    assert len(await pods_of(client, "front")) == 3


async def test_scale_up_and_down(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(replica_set("scale", 2))
    await wait_for(lambda: count_is(client, "scale", 2), "2 pods")

    await set_replicas(client, "scale", 7)
    await wait_for(lambda: count_is(client, "scale", 7), "7 pods after scaling up")

    ready = (await pods_of(client, "scale"))[:2]
    for pod in ready:
        await mark_ready(client, pod)
    await set_replicas(client, "scale", 2)
    remaining = await wait_for(lambda: count_is(client, "scale", 2), "2 pods after scaling down")
    assert {p.metadata.name for p in remaining} == {p.metadata.name for p in ready}, "ready pods are kept"


async def test_deleted_pod_is_replaced(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(replica_set("heal", 2))
    pods = await wait_for(lambda: count_is(client, "heal", 2), "2 pods")
    victim = pods[0].metadata.name
    await client.delete(Pod, victim)

    async def replaced() -> list[Pod] | None:
        now = await pods_of(client, "heal")
        return now if len(now) == 2 and victim not in {p.metadata.name for p in now} else None

    await wait_for(replaced, "a replacement pod")


async def test_adopts_orphan_and_releases_relabelled_pod(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    orphan = await client.create(Pod.from_dict({
        "metadata": {"name": "hand-made", "labels": {"app": "adopt"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.35"}]},
    }))
    rs = await client.create(replica_set("adopt", 2))
    pods = await wait_for(lambda: count_is(client, "adopt", 2), "orphan + 1 new pod")
    assert "hand-made" in {p.metadata.name for p in pods}

    async def adopted() -> Pod | None:
        p = await client.get(Pod, "hand-made")
        ref = p.metadata.controller_ref()
        return p if ref is not None and ref.uid == rs.metadata.uid else None

    await wait_for(adopted, "the orphan to get a controller ownerReference")
    assert (await client.get(Pod, "hand-made")).metadata.uid == orphan.metadata.uid

    def relabel(p: Pod) -> None:
        p.metadata.labels = {"app": "debugging"}

    await client.update_with_retry(Pod, "hand-made", "default", relabel)

    async def released() -> Pod | None:
        fresh = await client.get(Pod, "hand-made")
        return fresh if not fresh.metadata.owner_references else None

    await wait_for(released, "the relabelled pod to be released")
    await wait_for(lambda: count_is(client, "adopt", 2), "a replacement for the released pod")
    assert await client.get(Pod, "hand-made"), "a released pod is left running"


async def test_ready_and_available_status(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(replica_set("ready", 2))
    for pod in await wait_for(lambda: count_is(client, "ready", 2), "2 pods"):
        await mark_ready(client, pod)

    async def all_ready() -> ReplicaSet | None:
        rs = await client.get(ReplicaSet, "ready")
        return rs if rs.status.ready_replicas == 2 and rs.status.available_replicas == 2 else None

    await wait_for(all_ready, "readyReplicas == availableReplicas == 2")


async def test_garbage_collector_keeps_owned_and_removes_orphaned(
    control_plane: Any, manager: ControllerManager
) -> None:
    client: ApiClient = control_plane.client
    owner = await client.create(ConfigMap.from_dict({"metadata": {"name": "owner"}}))

    def owned_pod(name: str, uid: str) -> Pod:
        return Pod.from_dict({
            "metadata": {"name": name, "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.35"}]},
        })

    await client.create(owned_pod("kept", owner.metadata.uid or ""))
    await client.create(owned_pod("dangling", "0000-no-such-uid"))

    async def dangling_gone() -> bool:
        try:
            await client.get(Pod, "dangling")
        except NotFound:
            return True
        return False

    await wait_for(dangling_gone, "the pod whose owner never existed to be collected")
    assert (await client.get(Pod, "kept")).metadata.owner_references[0].uid == owner.metadata.uid

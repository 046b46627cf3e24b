"""The Deployment controller (with the RS controller and GC) against a real apiserver."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.deployment.templatehash import (
    POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION,
    compute_template_hash,
)
from controllers.manager import ControllerManager
from kubelite.api import Deployment, Pod, ReplicaSet
from kubelite.client import ApiClient
from tests.integration.controllers.helpers import (
    count_is,
    deployment,
    fake_kubelet,
    pods_of,
    wait_for,
)

pytestmark = pytest.mark.integration


async def replica_sets(client: ApiClient, app: str) -> list[ReplicaSet]:
    return (await client.list(ReplicaSet, "default", label_selector=f"app={app}")).items


async def set_template(client: ApiClient, name: str, **changes: Any) -> None:
    def mutate(d: Deployment) -> None:
        d.spec.template.spec.containers[0] = d.spec.template.spec.containers[0].model_copy(update=changes)

    await client.update_with_retry(Deployment, name, "default", mutate)


async def set_replicas(client: ApiClient, name: str, replicas: int) -> None:
    def mutate(d: Deployment) -> None:
        d.spec.replicas = replicas

    await client.update_with_retry(Deployment, name, "default", mutate)


async def test_creates_hashed_replica_set_and_pods(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    d = await client.create(deployment("web", 3))
    async with fake_kubelet(client, "web"):
        pods = await wait_for(lambda: count_is(client, "web", 3), "3 pods")
        (rs,) = await replica_sets(client, "web")
        h = rs.metadata.labels[POD_TEMPLATE_HASH_LABEL]
        assert rs.metadata.name == f"web-{h}" and len(h) == 10
        assert rs.spec.selector is not None and rs.spec.selector.match_labels == {"app": "web", POD_TEMPLATE_HASH_LABEL: h}
        assert rs.spec.template.metadata.labels[POD_TEMPLATE_HASH_LABEL] == h
        assert rs.metadata.annotations[REVISION_ANNOTATION] == "1"
        ref = rs.metadata.controller_ref()
        assert ref is not None and (ref.kind, ref.name, ref.uid) == ("Deployment", "web", d.metadata.uid)
        assert {p.metadata.owner_references[0].name for p in pods} == {rs.metadata.name}

        async def complete() -> Deployment | None:
            fresh = await client.get(Deployment, "web")
            s = fresh.status
            conds = {c.type: (c.status, c.reason) for c in s.conditions}
            ok = (s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas) == (3, 3, 3, 3) and \
                conds.get("Progressing") == ("True", "NewReplicaSetAvailable") and \
                conds.get("Available") == ("True", "MinimumReplicasAvailable") and \
                s.observed_generation == fresh.metadata.generation and not s.unavailable_replicas
            return fresh if ok else None

        await wait_for(complete, "a complete, available Deployment status")


async def test_template_change_rolls_to_new_replica_set(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(deployment("roll", 4))
    async with fake_kubelet(client, "roll"):
        old_pods = await wait_for(lambda: count_is(client, "roll", 4), "4 pods")
        (old_rs,) = await replica_sets(client, "roll")
        await set_template(client, "roll", image="busybox:1.36")

        async def rolled() -> list[ReplicaSet] | None:
            rss = {rs.metadata.name: rs for rs in await replica_sets(client, "roll")}
            pods = await pods_of(client, "roll")
            new = [rs for name, rs in rss.items() if name != old_rs.metadata.name]
            done = (len(new) == 1 and rss[old_rs.metadata.name].spec.replicas == 0 and new[0].spec.replicas == 4
                    and len(pods) == 4 and all(p.spec.containers[0].image == "busybox:1.36" for p in pods))
            return list(rss.values()) if done else None

        rss = await wait_for(rolled, "the old RS at 0 and 4 new pods", timeout=30)
        new_rs = next(rs for rs in rss if rs.metadata.name != old_rs.metadata.name)
        assert new_rs.metadata.annotations[REVISION_ANNOTATION] == "2"
        assert not {p.metadata.name for p in old_pods} & {p.metadata.name for p in await pods_of(client, "roll")}


async def test_rolling_update_never_exceeds_surge(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    await client.create(deployment("surge", 3, strategy=strategy))
    async with fake_kubelet(client, "surge"):
        await wait_for(lambda: count_is(client, "surge", 3), "3 pods")
        await set_template(client, "surge", image="busybox:1.36")
        peak = 0

        async def rolled() -> bool:
            nonlocal peak
            rss = await replica_sets(client, "surge")
            peak = max(peak, sum(rs.spec.replicas or 0 for rs in rss))
            pods = await pods_of(client, "surge")
            return len(rss) == 2 and len(pods) == 3 and all(p.spec.containers[0].image == "busybox:1.36" for p in pods)

        await wait_for(rolled, "the rollout to finish", timeout=30)
        assert peak <= 4, f"maxSurge 1 over 3 replicas allows 4 pods, saw {peak}"


async def test_recreate_removes_old_pods_first(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(deployment("recreate", 2, strategy={"type": "Recreate"}))
    async with fake_kubelet(client, "recreate"):
        old = await wait_for(lambda: count_is(client, "recreate", 2), "2 pods")
        await set_template(client, "recreate", image="busybox:1.36")
        mixed = False

        async def recreated() -> bool:
            nonlocal mixed
            pods = await pods_of(client, "recreate")
            images = {p.spec.containers[0].image for p in pods}
            mixed = mixed or len(images) > 1
            return len(pods) == 2 and images == {"busybox:1.36"}

        await wait_for(recreated, "2 new pods", timeout=30)
        assert not mixed, "Recreate must never run old and new pods together"
        assert not {p.metadata.name for p in old} & {p.metadata.name for p in await pods_of(client, "recreate")}


async def test_scaling_resizes_the_active_replica_set(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(deployment("scale", 2))
    async with fake_kubelet(client, "scale"):
        await wait_for(lambda: count_is(client, "scale", 2), "2 pods")
        for replicas in (5, 1):
            await set_replicas(client, "scale", replicas)
            await wait_for(lambda n=replicas: count_is(client, "scale", n), f"{replicas} pods")  # type: ignore[misc]
        (rs,) = await replica_sets(client, "scale")
        assert rs.spec.replicas == 1

        async def ready_one() -> bool:
            return (await client.get(Deployment, "scale")).status.ready_replicas == 1

        await wait_for(ready_one, "status.readyReplicas == 1")


async def test_revision_history_limit_prunes_old_replica_sets(
    control_plane: Any, manager: ControllerManager
) -> None:
    client: ApiClient = control_plane.client
    await client.create(deployment("hist", 1, history=1))
    async with fake_kubelet(client, "hist"):
        await wait_for(lambda: count_is(client, "hist", 1), "1 pod")
        for image in ("busybox:1.36", "busybox:1.37"):
            await set_template(client, "hist", image=image)

            async def on_image(image: str = image) -> bool:
                pods = await pods_of(client, "hist")
                return len(pods) == 1 and pods[0].spec.containers[0].image == image

            await wait_for(on_image, f"the pod to run {image}", timeout=30)

        async def pruned() -> list[ReplicaSet] | None:
            rss = await replica_sets(client, "hist")
            return rss if len(rss) == 2 else None

        rss = await wait_for(pruned, "history pruned to the new RS + 1 old")
        assert sorted(rs.metadata.annotations[REVISION_ANNOTATION] for rs in rss) == ["2", "3"]


async def test_deleting_deployment_collects_replica_sets_and_pods(
    control_plane: Any, manager: ControllerManager
) -> None:
    client: ApiClient = control_plane.client
    await client.create(deployment("doomed", 3))
    await client.create(deployment("survivor", 1))
    await wait_for(lambda: count_is(client, "doomed", 3), "3 pods")
    await wait_for(lambda: count_is(client, "survivor", 1), "the other deployment's pod")
    await client.delete(Deployment, "doomed")

    async def collected() -> bool:
        rss = await replica_sets(client, "doomed")
        pods = (await client.list(Pod, "default", label_selector="app=doomed")).items
        return not rss and not pods

    await wait_for(collected, "ReplicaSets and pods of the deleted Deployment to be collected")
    assert len(await pods_of(client, "survivor")) == 1 and len(await replica_sets(client, "survivor")) == 1


async def test_orphan_deletion_keeps_replica_sets_and_pods(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(deployment("orphans", 2))
    pods = await wait_for(lambda: count_is(client, "orphans", 2), "2 pods")
    await client.delete(Deployment, "orphans", propagation_policy="Orphan")

    async def deployment_gone_rs_orphaned() -> list[ReplicaSet] | None:
        if "orphans" in {d.metadata.name for d in (await client.list(Deployment, "default")).items}:
            return None
        rss = await replica_sets(client, "orphans")
        return rss if len(rss) == 1 and not rss[0].metadata.owner_references else None

    (rs,) = await wait_for(deployment_gone_rs_orphaned, "the Deployment gone and its RS orphaned")
    now = await pods_of(client, "orphans")
    assert {p.metadata.name for p in now} == {p.metadata.name for p in pods}
    assert all(p.metadata.owner_references[0].uid == rs.metadata.uid for p in now)


async def test_foreground_deletion_removes_dependents_first(
    control_plane: Any, manager: ControllerManager
) -> None:
    client: ApiClient = control_plane.client
    await client.create(deployment("fg", 2))
    await wait_for(lambda: count_is(client, "fg", 2), "2 pods")
    await client.delete(Deployment, "fg", propagation_policy="Foreground")

    async def all_gone() -> bool:
        names = {d.metadata.name for d in (await client.list(Deployment, "default")).items}
        pods = (await client.list(Pod, "default", label_selector="app=fg")).items
        return "fg" not in names and not await replica_sets(client, "fg") and not pods

    await wait_for(all_gone, "pods, then the RS, then the Deployment to be deleted")


async def test_name_collision_bumps_collision_count(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    d = deployment("clash", 1)
    defaulted = await client.create(d, dry_run=True)  # the hash is over the server-defaulted template
    taken = f"clash-{compute_template_hash(defaulted.spec.template)}"
    foreign = ReplicaSet.from_dict({
        "metadata": {"name": taken, "labels": {"app": "foreign"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "foreign"}},
                 "template": {"metadata": {"labels": {"app": "foreign"}},
                              "spec": {"containers": [{"name": "x", "image": "other:1"}]}}},
    })
    await client.create(foreign)
    await client.create(d)
    (pod,) = await wait_for(lambda: count_is(client, "clash", 1), "a pod despite the name clash")
    owner = pod.metadata.owner_references[0].name
    assert owner != taken and owner.startswith("clash-")
    assert (await client.get(Deployment, "clash")).status.collision_count == 1
    assert not (await client.get(ReplicaSet, taken)).metadata.owner_references, "the foreign RS is left alone"


async def test_paused_deployment_scales_but_does_not_roll(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(deployment("paused", 1))
    await wait_for(lambda: count_is(client, "paused", 1), "1 pod")

    def pause_and_change(d: Deployment) -> None:
        d.spec.paused = True
        d.spec.template.spec.containers[0].image = "busybox:1.36"

    await client.update_with_retry(Deployment, "paused", "default", pause_and_change)
    await set_replicas(client, "paused", 3)
    pods = await wait_for(lambda: count_is(client, "paused", 3), "3 pods while paused")
    assert {p.spec.containers[0].image for p in pods} == {"busybox:1.35"}
    assert len(await replica_sets(client, "paused")) == 1

    async def paused_condition() -> bool:
        conds = {c.type: c.reason for c in (await client.get(Deployment, "paused")).status.conditions}
        return conds.get("Progressing") == "DeploymentPaused"

    await wait_for(paused_condition, "Progressing=Unknown/DeploymentPaused")

    def resume(d: Deployment) -> None:
        d.spec.paused = False

    await client.update_with_retry(Deployment, "paused", "default", resume)
    await wait_for(lambda: count_is(client, "paused", 3), "3 pods")  # a new RS appears and scales up

    async def rolled_to_new_rs() -> bool:
        return len(await replica_sets(client, "paused")) == 2

    await wait_for(rolled_to_new_rs, "a new RS once resumed")


async def test_rollback_reuses_the_old_replica_set_as_newest_revision(
    control_plane: Any, manager: ControllerManager
) -> None:
    client: ApiClient = control_plane.client
    await client.create(deployment("back", 2))
    async with fake_kubelet(client, "back"):
        await wait_for(lambda: count_is(client, "back", 2), "2 pods")
        (first,) = await replica_sets(client, "back")
        for image in ("busybox:1.36", "busybox:1.35"):
            await set_template(client, "back", image=image)

            async def on_image(image: str = image) -> bool:
                pods = await pods_of(client, "back")
                return len(pods) == 2 and {p.spec.containers[0].image for p in pods} == {image}

            await wait_for(on_image, f"pods on {image}", timeout=30)

        async def first_is_newest() -> bool:
            rss = {rs.metadata.name: rs for rs in await replica_sets(client, "back")}
            rs = rss[first.metadata.name]
            d = await client.get(Deployment, "back")
            return (len(rss) == 2 and rs.spec.replicas == 2 and rs.metadata.annotations[REVISION_ANNOTATION] == "3"
                    and d.metadata.annotations.get(REVISION_ANNOTATION) == "3")

        await wait_for(first_is_newest, "the first RS to be revision 3 with all replicas")

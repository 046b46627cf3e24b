"""DaemonSet, StatefulSet, Job, CronJob and Namespace controllers against a real apiserver.

No scheduler and no kubelet run here: DaemonSet pods are bound by the
controller itself, and a "fake kubelet" loop plays the node (marks pods
Running/Ready, Succeeded or Failed) where a test needs it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.cronjob.controller import CronJobController
from controllers.job.controller import JobController
from controllers.manager import ControllerManager
from kubelite.api import ConfigMap, DaemonSet, Job, Namespace, Node, Pod, StatefulSet
from kubelite.api.batch import CronJob
from kubelite.api.errors import Conflict, NotFound
from kubelite.api.storage import PersistentVolumeClaim
from kubelite.client import ApiClient
from tests.integration.controllers.helpers import fake_kubelet, live, pods_of, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def manager(control_plane: Any, tmp_path: Any) -> AsyncIterator[ControllerManager]:
    cm = ControllerManager(control_plane.client, ["daemonset", "statefulset", "job", "cronjob", "namespace"])
    job = cm.get("job")
    assert isinstance(job, JobController)
    job.backoff_base = 0.2
    await cm.start()
    try:
        yield cm
    finally:
        await cm.stop()


def template(app: str, restart: str = "Always", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox",
                                                               "command": ["sleep", "3600"]}], **spec}}


async def add_node(client: ApiClient, name: str, labels: dict[str, str] | None = None) -> None:
    await client.create(Node.from_dict({"metadata": {"name": name, "labels": labels or {}}}))


async def set_pod_phase(client: ApiClient, pod: Pod, phase: str, ready: bool = False) -> None:
    fresh = pod.copy_deep()
    fresh.status = Pod.from_dict({"status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}).status
    with contextlib.suppress(NotFound, Conflict):
        await client.update_status(fresh)


async def test_daemonset_covers_every_node_including_late_joiners(control_plane: Any,
                                                                  manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await add_node(client, "ds-n1", {"pool": "a"})
    await add_node(client, "ds-n2", {"pool": "b"})
    await client.create(DaemonSet.from_dict({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}}, "template": template("agent", nodeSelector={"pool": "a"})}}))

    async def nodes_covered(expected: set[str]) -> list[Pod] | None:
        pods = await pods_of(client, "agent")
        return pods if {p.spec.node_name for p in pods} == expected and len(pods) == len(expected) else None

    await wait_for(lambda: nodes_covered({"ds-n1"}), "a daemon pod on ds-n1 only")
    await add_node(client, "ds-n3", {"pool": "a"})
    await wait_for(lambda: nodes_covered({"ds-n1", "ds-n3"}), "a daemon pod on the node that joined")

    async def status_ok() -> DaemonSet | None:
        ds = await client.get(DaemonSet, "agent")
        st = ds.status
        return ds if (st.desired_number_scheduled, st.current_number_scheduled) == (2, 2) else None

    await wait_for(status_ok, "desired=current=2")
    await client.delete(Node, "ds-n3", namespace="")
    await wait_for(lambda: nodes_covered({"ds-n1"}), "the pod of the removed node gone")


async def test_statefulset_ordered_identities_and_stable_storage(control_plane: Any, manager: ControllerManager,
                                                                  tmp_path: Any) -> None:
    client: ApiClient = control_plane.client
    await client.create(StatefulSet.from_dict({"metadata": {"name": "web"}, "spec": {
        "replicas": 3, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
        "template": {**template("web"), "spec": {**template("web")["spec"], "containers": [
            {"name": "c", "image": "busybox", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}))

    first = await wait_for(lambda: pods_of(client, "web"), "web-0")
    assert [p.metadata.name for p in first] == ["web-0"]
    # nothing else starts while web-0 is not Running and Ready
    assert [p.metadata.name for p in await pods_of(client, "web")] == ["web-0"]

    async def names(expected: list[str]) -> list[Pod] | None:
        pods = sorted(await pods_of(client, "web"), key=lambda p: p.metadata.name or "")
        return pods if [p.metadata.name for p in pods] == expected else None

    async with fake_kubelet(client, "web"):
        pods = await wait_for(lambda: names(["web-0", "web-1", "web-2"]), "web-0..2")
        web1 = pods[1]
        assert (web1.spec.hostname, web1.spec.subdomain) == ("web-1", "web")
        vol = web1.spec.volumes[0]
        assert vol.persistent_volume_claim is not None and vol.persistent_volume_claim.claim_name == "data-web-1"
        claims = (await client.list(PersistentVolumeClaim, "default")).items
        assert sorted(c.metadata.name or "" for c in claims) == ["data-web-0", "data-web-1", "data-web-2"]
        assert all(not c.metadata.owner_references for c in claims), "claims outlive the set (Retain)"

        await client.delete(Pod, "web-1")

        async def replaced() -> Pod | None:
            pods = await names(["web-0", "web-1", "web-2"])
            fresh = pods[1] if pods else None
            return fresh if fresh is not None and fresh.metadata.uid != web1.metadata.uid else None

        again = await wait_for(replaced, "web-1 recreated")
        assert again.spec.volumes[0].to_dict() == vol.to_dict(), "same per-ordinal volume"

        async def ready3() -> StatefulSet | None:
            sts = await client.get(StatefulSet, "web")
            return sts if sts.status.ready_replicas == 3 else None

        await wait_for(ready3, "readyReplicas=3")


async def test_job_runs_to_completion_with_retries(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(Job.from_dict({"metadata": {"name": "calc"}, "spec": {
        "completions": 2, "parallelism": 1, "backoffLimit": 3, "template": template("calc", "Never")}}))
    seen: list[str] = []

    async def kubelet_step() -> Job | None:
        for pod in live((await client.list(Pod, "default", label_selector="job-name=calc")).items):
            if pod.status.phase == "Pending" and pod.metadata.name not in seen:
                seen.append(pod.metadata.name or "")
                # the first attempt fails, every later one succeeds
                await set_pod_phase(client, pod, "Failed" if len(seen) == 1 else "Succeeded")
        job = await client.get(Job, "calc")
        return job if any(c.type == "Complete" and c.status == "True" for c in job.status.conditions) else None

    job = await wait_for(kubelet_step, "job Complete", timeout=20)
    assert (job.status.succeeded, job.status.failed, job.status.active or 0) == (2, 1, 0)
    assert job.status.completion_time and len(seen) == 3


async def test_cronjob_creates_scheduled_job(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    cron = manager.get("cronjob")
    assert isinstance(cron, CronJobController)
    cron.clock = lambda: datetime.now(UTC) + timedelta(minutes=2)  # a scheduled minute is already due
    await client.create(CronJob.from_dict({"metadata": {"name": "tick"}, "spec": {
        "schedule": "* * * * *", "jobTemplate": {"spec": {"template": template("tick", "Never")}}}}))

    async def created() -> list[Job] | None:
        jobs = [j for j in (await client.list(Job, "default")).items if j.metadata.name.startswith("tick-")]
        return jobs or None

    (job,) = await wait_for(created, "a Job of the CronJob")
    assert job.metadata.owner_references[0].kind == "CronJob"
    cj = await wait_for(lambda: _with_schedule_time(client), "status.lastScheduleTime")
    assert [r.name for r in cj.status.active] == [job.metadata.name]


async def _with_schedule_time(client: ApiClient) -> CronJob | None:
    cj = await client.get(CronJob, "tick")
    return cj if cj.status.last_schedule_time and cj.status.active else None


async def test_namespace_deletion_removes_its_content(control_plane: Any, manager: ControllerManager) -> None:
    client: ApiClient = control_plane.client
    await client.create(Namespace.from_dict({"metadata": {"name": "scratch"}}))
    await client.create(ConfigMap.from_dict({"metadata": {"name": "cfg", "namespace": "scratch"}}))
    await client.create(Job.from_dict({"metadata": {"name": "j", "namespace": "scratch"}, "spec": {
        "template": template("j", "Never")}}))
    await client.delete(Namespace, "scratch", namespace="")
    ns = await client.get(Namespace, "scratch", namespace="")
    assert ns.status.phase == "Terminating"

    async def gone() -> bool:
        try:
            await client.get(Namespace, "scratch", namespace="")
        except NotFound:
            return True
        return False

    await wait_for(gone, "namespace removed", timeout=20)
    assert (await client.list(ConfigMap, "scratch")).items == []
    assert (await client.list(Pod, "scratch")).items == []

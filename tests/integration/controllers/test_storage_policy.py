"""Storage and disruption budgets against a real apiserver (HTTP and gRPC) with the real controllers.

No scheduler and no kubelet: the tests play the scheduler's part (the
selected-node annotation) and the kubelet's (pod status) where needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from apiserver.server import ApiServer
from controllers.manager import ControllerManager
from kubelite.api import Event, Node, Pod
from kubelite.api.errors import NotFound, TooManyRequests
from kubelite.api.policy import PodDisruptionBudget
from kubelite.api.storage import PersistentVolume, PersistentVolumeClaim
from kubelite.client import ApiClient
from tests.integration.apiserver.test_http_api import KUBECTL, Kubectl
from tests.integration.httpapi import running_http_apiserver
from tests.integration.kubectl.test_rollout_nodes import kctl
from tests.polling import eventually

pytestmark = pytest.mark.integration

LOCAL_PATH = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
              "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
              "provisioner": "kubelite.io/local-path", "reclaimPolicy": "Delete",
              "volumeBindingMode": "WaitForFirstConsumer"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with running_http_apiserver(tmp_path) as server:
        yield server


@contextlib.asynccontextmanager
async def controllers(api: ApiServer, *names: str) -> AsyncIterator[ApiClient]:
    client = ApiClient.connect(api.endpoint)
    cm = ControllerManager(client, list(names))
    await cm.start()
    try:
        yield client
    finally:
        await cm.stop()
        await client.close()


def claim(name: str, size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec}}


def volume(name: str, size: str, cls: str = "manual", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                     "hostPath": {"path": f"/srv/{name}"}, **spec}}


async def test_admission_defaults_validation_and_tables(api: ApiServer) -> None:
    base = api.http.url  # type: ignore[union-attr]
    pvcs = f"{base}/api/v1/namespaces/default/persistentvolumeclaims"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/apis/storage.k8s.io/v1/storageclasses", json=LOCAL_PATH) as resp:
            assert resp.status == 201
        async with http.post(pvcs, json=claim("data")) as resp:
            assert resp.status == 201
            created = await resp.json()
        assert created["spec"]["storageClassName"] == "local-path", "the default class is filled in"
        assert created["status"]["phase"] == "Pending"
        async with http.post(pvcs, json=claim("classless", storageClassName="")) as resp:
            assert (await resp.json())["spec"]["storageClassName"] == "", "an explicit empty class is kept"

        bad = claim("bad", size="lots", modes=("ReadWriteSometimes",))
        async with http.post(pvcs, json=bad) as resp:
            body = await resp.json()
        assert (resp.status, body["reason"]) == (422, "Invalid")
        fields = {c["field"] for c in body["details"]["causes"]}
        assert {"spec.accessModes[0]", "spec.resources.requests[storage]"} <= fields, body
        async with http.post(f"{base}/api/v1/persistentvolumes",
                             json={**volume("nfs", "1Gi"), "spec": {**volume("nfs", "1Gi")["spec"],
                                                                    "hostPath": None, "nfs": {"server": "x"}}}) as resp:
            body = await resp.json()
        assert resp.status == 422 and [c["field"] for c in body["details"]["causes"]] == ["spec.nfs"], body
        pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "b"},
               "spec": {"minAvailable": 1, "maxUnavailable": "150%", "selector": {"matchLabels": {"a": "b"}}}}
        async with http.post(f"{base}/apis/policy/v1/namespaces/default/poddisruptionbudgets", json=pdb) as resp:
            body = await resp.json()
        assert resp.status == 422 and {c["field"] for c in body["details"]["causes"]} >= {"spec",
                                                                                          "spec.maxUnavailable"}

        table = "application/json;as=Table;v=v1;g=meta.k8s.io"
        async with http.get(f"{base}/apis/storage.k8s.io/v1/storageclasses", headers={"Accept": table}) as resp:
            doc = await resp.json()
        assert [c["name"] for c in doc["columnDefinitions"]] == [
            "NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"]
        assert doc["rows"][0]["cells"][:4] == ["local-path (default)", "kubelite.io/local-path", "Delete",
                                              "WaitForFirstConsumer"]
        async with http.get(f"{base}/apis/policy/v1") as resp:
            names = {r["name"] for r in (await resp.json())["resources"]}
        assert {"poddisruptionbudgets", "poddisruptionbudgets/status"} <= names


async def _phase(client: ApiClient, name: str, phase: str) -> PersistentVolumeClaim | None:
    pvc = await client.get(PersistentVolumeClaim, name)
    return pvc if pvc.status.phase == phase else None


async def test_static_binding_reclaim_and_provisioning(api: ApiServer) -> None:
    async with controllers(api, "persistentvolume") as client:
        for name, size in (("pv-small", "1Gi"), ("pv-big", "5Gi")):
            await client.create_raw("persistentvolumes", volume(name, size))
        await client.create_raw("persistentvolumeclaims", claim("db", "800Mi", storageClassName="manual"), "default")
        bound = await eventually(lambda: _phase(client, "db", "Bound"), "claim db bound")
        assert bound.spec.volume_name == "pv-small", "the smallest volume that fits"
        assert bound.status.capacity == {"storage": "1Gi"} and bound.status.access_modes == ["ReadWriteOnce"]

        async def pv_phase(name: str, phase: str) -> PersistentVolume | None:
            pv = await client.get(PersistentVolume, name, "")
            return pv if pv.status.phase == phase else None

        await eventually(lambda: pv_phase("pv-small", "Bound"), "pv-small Bound")
        await client.create_raw("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user"}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "db"}}]}}, "default")
        await client.delete(PersistentVolumeClaim, "db")
        protected = await client.get(PersistentVolumeClaim, "db")
        assert protected.metadata.deletion_timestamp and protected.metadata.finalizers == ["kubernetes.io/pvc-protection"]
        assert (await client.get(PersistentVolume, "pv-small", "")).status.phase == "Bound", "kept while in use"
        await client.delete(Pod, "user", grace_period_seconds=0)

        async def claim_gone() -> bool | None:
            try:
                await client.get(PersistentVolumeClaim, "db")
            except NotFound:
                return True
            return None

        await eventually(claim_gone, "the claim released once its pod is gone")
        released = await eventually(lambda: pv_phase("pv-small", "Released"), "pv-small Released (Retain)")
        assert released.status.message and "retained" in released.status.message

        # local-path: waits for a consumer, provisions on the node the scheduler names.
        await client.create_raw("storageclasses", LOCAL_PATH)
        await client.create(Node.from_dict({"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"},
                                                         "annotations": {"kubelite.io/data-dir": "/d/n1"}}}))
        await client.create_raw("persistentvolumeclaims", claim("web"), "default")

        async def pvc_events(name: str, reason: str) -> list[Event] | None:
            events = [e for e in (await client.list(Event, "default")).items
                      if e.involved_object.name == name and e.reason == reason]
            return events or None

        await eventually(lambda: pvc_events("web", "WaitForFirstConsumer"), "WaitForFirstConsumer event")

        def select(pvc: PersistentVolumeClaim) -> None:
            pvc.metadata.annotations["volume.kubernetes.io/selected-node"] = "n1"

        await client.update_with_retry(PersistentVolumeClaim, "web", "default", select)
        web = await eventually(lambda: _phase(client, "web", "Bound"), "claim web provisioned and bound")
        pv = await client.get(PersistentVolume, web.spec.volume_name or "", "")
        assert pv.spec.host_path is not None and pv.spec.host_path.path == f"/d/n1/volumes/local-path/{pv.metadata.name}"
        assert pv.spec.persistent_volume_reclaim_policy == "Delete" and pv.spec.storage_class_name == "local-path"

        # Delete policy: the PV is deleted; its finalizer waits for the node's kubelet (none here).
        await client.delete(PersistentVolumeClaim, "web")

        async def deleting() -> PersistentVolume | None:
            current = await client.get(PersistentVolume, pv.metadata.name or "", "")
            return current if current.metadata.deletion_timestamp else None

        await eventually(deleting, "the provisioned PV deleted (held by the kubelet's cleanup finalizer)")

        await client.create_raw("persistentvolumeclaims", claim("shared", modes=("ReadWriteMany",)), "default")
        failed = await eventually(lambda: pvc_events("shared", "ProvisioningFailed"), "ProvisioningFailed event")
        assert "ReadWriteMany" in failed[0].message and failed[0].type == "Warning"
        assert (await client.get(PersistentVolumeClaim, "shared")).status.phase == "Pending"

        await client.create_raw("persistentvolumeclaims", claim("gold", storageClassName="gold"), "default")
        unknown = await eventually(lambda: pvc_events("gold", "ProvisioningFailed"), "unknown class event")
        assert unknown[0].message == 'storageclass.storage.k8s.io "gold" not found'


async def _ready_pod(client: ApiClient, name: str) -> None:
    await client.create_raw("pods", {"apiVersion": "v1", "kind": "Pod",
                                     "metadata": {"name": name, "labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, "default")
    pod = await client.get(Pod, name)
    pod.status = Pod.from_dict({"status": {"phase": "Running",
                                           "conditions": [{"type": "Ready", "status": "True"}]}}).status
    await client.update_status(pod)


async def test_eviction_respects_the_disruption_budget(api: ApiServer) -> None:
    async with controllers(api, "disruption") as client:
        for name in ("web-a", "web-b"):
            await _ready_pod(client, name)
        await client.create_raw("poddisruptionbudgets", {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web-pdb"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}, "default")

        async def status(allowed: int) -> PodDisruptionBudget | None:
            pdb = await client.get(PodDisruptionBudget, "web-pdb")
            ok = pdb.status.disruptions_allowed == allowed and pdb.status.observed_generation == pdb.metadata.generation
            return pdb if ok else None

        pdb = await eventually(lambda: status(0), "budget computed")
        assert (pdb.status.current_healthy, pdb.status.desired_healthy, pdb.status.expected_pods) == (2, 2, 2)

        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-a"}}
        url = f"{api.http.url}/api/v1/namespaces/default/pods/web-a/eviction"  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=eviction) as resp:
                body = await resp.json()
            assert (resp.status, body["reason"]) == (429, "TooManyRequests")
            assert body["message"].startswith("Cannot evict pod as it would violate the pod's disruption budget.")
            assert "web-pdb" in body["message"]
            assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
        with pytest.raises(TooManyRequests, match="web-pdb needs 2 healthy pods and has 2"):
            await client.evict("web-b")  # the gRPC path (kctl drain) says the same

        def relax(budget: PodDisruptionBudget) -> None:
            budget.spec.min_available = 1

        await client.update_with_retry(PodDisruptionBudget, "web-pdb", "default", relax)
        await eventually(lambda: status(1), "one disruption allowed")
        await client.evict("web-a", grace_period_seconds=30)
        after = await client.get(PodDisruptionBudget, "web-pdb")
        # Either the eviction's own bookkeeping (web-a in disruptedPods) or, once the controller saw
        # web-a terminating, the recomputed status: no disruption is left either way.
        assert after.status.disruptions_allowed == 0, "the eviction used up the disruption atomically"
        assert "web-a" in after.status.disrupted_pods or after.status.current_healthy == 1
        with pytest.raises(TooManyRequests):
            await client.evict("web-b")
        assert (await client.get(Pod, "web-b")).metadata.deletion_timestamp is None


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (the Debian package) is not installed")
async def test_real_kubectl_creates_and_lists_budgets_and_storage(api: ApiServer, tmp_path: Path) -> None:
    kubectl = Kubectl(api.http.url, tmp_path)  # type: ignore[union-attr]
    # `create pdb` sends a protobuf body: its field numbers must be known.
    assert "poddisruptionbudget.policy/web created" in await kubectl.run(
        "create", "poddisruptionbudget", "web", "--selector=app=web", "--min-available=50%")
    pdb = json.loads(await kubectl.run("get", "pdb", "web", "-o", "json"))
    assert pdb["spec"] == {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}
    await kubectl.run("apply", "-f", "-", stdin=json.dumps(LOCAL_PATH))
    await kubectl.run("apply", "-f", "-", stdin=json.dumps(volume("pv-1", "2Gi")))
    await kubectl.run("apply", "-f", "-", stdin=json.dumps(claim("data")))
    table = (await kubectl.run("get", "pv,pvc,sc")).splitlines()
    assert table[0].split() == ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY", "STATUS", "CLAIM",
                                "STORAGECLASS", "REASON", "AGE"], table
    text = "\n".join(table)
    assert "persistentvolume/pv-1" in text and "2Gi" in text and "Retain" in text
    assert "persistentvolumeclaim/data" in text and "Pending" in text and "local-path" in text
    assert "storageclass.storage.k8s.io/local-path (default)" in text

    code, out, err = await asyncio.to_thread(kctl, api.endpoint, "get", "pv,pvc,sc,pdb")
    assert code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"] in lines
    assert ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"] in lines
    assert any(line[:4] == ["storageclass.storage.k8s.io/local-path", "(default)", "kubelite.io/local-path",
                            "Delete"] for line in lines), out
    assert any(line[:2] == ["persistentvolumeclaim/data", "Pending"] and "local-path" in line for line in lines), out

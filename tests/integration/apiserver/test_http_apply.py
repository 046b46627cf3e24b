"""Server-side apply and managedFields over the HTTP API, driven by real `kubectl apply
--server-side` and by raw requests; other writes record `Update` ownership.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
import yaml

from apiserver.server import ApiServer
from kubelite.api import ConfigMap, ObjectMeta
from kubelite.client import ApiClient
from tests.integration.apiserver.test_http_api import KUBECTL, Kubectl, api, deployment

pytestmark = pytest.mark.integration
__all__ = ["api"]  # the fixture, shared with test_http_api

APPLY = {"Content-Type": "application/apply-patch+yaml"}
MERGE = "application/merge-patch+json"


def owners(obj: dict[str, object]) -> dict[str, str]:
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    return {e["manager"]: e["operation"] for e in meta.get("managedFields", [])}


async def test_apply_over_http_creates_merges_and_reports_conflicts(api: ApiServer) -> None:
    url = f"{api.http.url}/apis/apps/v1/namespaces/default/deployments/web"
    async with aiohttp.ClientSession() as session:
        async with session.patch(url, data=yaml.safe_dump(deployment("web", 2)), headers=APPLY) as resp:
            assert resp.status == 400  # no fieldManager
            assert "fieldManager is required" in (await resp.json())["message"]
        async with session.patch(f"{url}?fieldManager=a&dryRun=All", data=yaml.safe_dump(deployment("web", 2)),
                                 headers=APPLY) as resp:
            assert resp.status == 201
        async with session.get(url) as resp:
            assert resp.status == 404  # the dry run stored nothing
        first = deployment("web", 2)
        first["metadata"]["annotations"] = {"note": "from-a"}
        async with session.patch(f"{url}?fieldManager=a", data=yaml.safe_dump(first), headers=APPLY) as resp:
            assert resp.status == 201
            created = await resp.json()
        assert owners(created) == {"a": "Apply"}
        entry = created["metadata"]["managedFields"][0]
        assert entry["fieldsType"] == "FieldsV1" and entry["apiVersion"] == "apps/v1"
        assert "f:replicas" in entry["fieldsV1"]["f:spec"]
        # JSON is YAML: a JSON body is accepted too; another manager changing replicas conflicts
        async with session.patch(f"{url}?fieldManager=b", data=json.dumps(deployment("web", 5)),
                                 headers=APPLY) as resp:
            status = await resp.json()
        assert (resp.status, status["reason"]) == (409, "Conflict")
        assert status["message"] == ('Apply failed with 1 conflict: conflict with "a" using apps/v1: '
                                     '.spec.replicas')
        assert status["details"]["causes"] == [{"field": ".spec.replicas", "reason": "FieldManagerConflict",
                                                "message": 'conflict with "a" using apps/v1'}]
        async with session.patch(f"{url}?fieldManager=b&force=true", data=json.dumps(deployment("web", 5)),
                                 headers=APPLY) as resp:
            forced = await resp.json()
        assert resp.status == 200 and forced["spec"]["replicas"] == 5
        assert owners(forced) == {"a": "Apply", "b": "Apply"}
        # a merge patch by another client records an Update entry (manager from the User-Agent)
        async with session.patch(url, json={"metadata": {"labels": {"tier": "fe"}}},
                                 headers={"Content-Type": "application/merge-patch+json",
                                          "User-Agent": "my-tool/1.0 (linux)"}) as resp:
            patched = await resp.json()
        assert owners(patched) == {"a": "Apply", "b": "Apply", "my-tool": "Update"}
        # a re-apply by `a` without its annotation and labels removes the annotation (nobody else
        # owns it) and keeps the labels (b and my-tool own them); replicas 5 equals b's value (shared, no conflict); a new container merges by name
        config = deployment("web", 5)
        config["metadata"]["labels"] = {}
        config["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox:2"})
        async with session.patch(f"{url}?fieldManager=a", data=yaml.safe_dump(config), headers=APPLY) as resp:
            reapplied = await resp.json()
        assert resp.status == 200, reapplied
        assert reapplied["metadata"]["labels"] == {"app": "web", "tier": "fe"}
        assert "annotations" not in reapplied["metadata"]
        assert [c["name"] for c in reapplied["spec"]["template"]["spec"]["containers"]] == ["main", "side"]
        async with session.patch(f"{url}?fieldManager=a&force=maybe&fieldValidation=Loose",
                                 data="{}", headers=APPLY) as resp:
            assert resp.status == 400
        async with session.patch(f"{url}?force=true", json={}, headers={"Content-Type": MERGE}) as resp:
            assert resp.status == 400  # force is for apply only
        async with session.patch(f"{url}?fieldManager=a", data=b"kind: [", headers=APPLY) as resp:
            assert (resp.status, (await resp.json())["reason"]) == (400, "BadRequest")
        async with session.get(f"{api.http.url}/readyz") as resp:
            assert resp.status == 200


async def test_apply_to_the_status_subresource_owns_only_status(api: ApiServer) -> None:
    url = f"{api.http.url}/apis/apps/v1/namespaces/default/deployments/st"
    async with aiohttp.ClientSession() as session:
        async with session.patch(f"{url}?fieldManager=user", json=deployment("st", 2), headers=APPLY) as resp:
            assert resp.status == 201
        status = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "st"},
                  "spec": {"replicas": 9}, "status": {"observedGeneration": 1, "replicas": 2}}
        async with session.patch(f"{url}/status?fieldManager=ctl", json=status, headers=APPLY) as resp:
            obj = await resp.json()
        assert resp.status == 200, obj
        assert (obj["spec"]["replicas"], obj["status"]["replicas"]) == (2, 2)  # spec is not the status' to set
        entries = {(e["manager"], e.get("subresource", "")): e["fieldsV1"] for e in obj["metadata"]["managedFields"]}
        assert entries[("ctl", "status")] == {"f:status": {"f:observedGeneration": {}, "f:replicas": {}}}


async def test_grpc_writes_record_ownership_that_apply_respects(api: ApiServer) -> None:
    async with ApiClient.connect(api.endpoint) as client:
        await client.create(ConfigMap(metadata=ObjectMeta(name="shared", namespace="default"), data={"a": "1"}))
        current = await client.get(ConfigMap, "shared", namespace="default")
        current.data["b"] = "2"
        await client.update(current)
    url = f"{api.http.url}/api/v1/namespaces/default/configmaps/shared"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            obj = await resp.json()
        (entry,) = obj["metadata"]["managedFields"]
        assert (entry["operation"], entry["fieldsV1"]) == ("Update", {"f:data": {"f:a": {}, "f:b": {}}})
        grpc_manager = entry["manager"]  # kubelite's clients send grpc-python's agent: the user names them
        assert grpc_manager and not grpc_manager.startswith("grpc-"), grpc_manager
        config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"a": "9"}}
        async with session.patch(f"{url}?fieldManager=ssa", json=config, headers=APPLY) as resp:
            status = await resp.json()
        assert resp.status == 409, status
        assert status["message"] == f'Apply failed with 1 conflict: conflict with "{grpc_manager}" using v1: .data.a'


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (the Debian package) is not installed")
async def test_real_kubectl_server_side_apply(api: ApiServer, tmp_path: Path) -> None:
    kubectl = Kubectl(api.http.url, tmp_path)
    manifest = yaml.safe_dump(deployment("ssa", 2))
    out = await kubectl.run("apply", "--server-side", "-f", "-", stdin=manifest)
    assert "deployment.apps/ssa serverside-applied" in out
    changed = yaml.safe_dump(deployment("ssa", 3, image="busybox:2"))
    await kubectl.run("apply", "--server-side", "-f", "-", stdin=changed)
    obj = json.loads(await kubectl.run("get", "deploy", "ssa", "-o", "json", "--show-managed-fields"))
    assert obj["spec"]["replicas"] == 3
    assert owners(obj) == {"kubectl": "Apply"}
    conflicting = yaml.safe_dump(deployment("ssa", 7))
    err = await kubectl.run("apply", "--server-side", "--field-manager", "other", "-f", "-",
                            stdin=conflicting, ok=False)
    assert 'Apply failed with 2 conflicts: conflicts with "kubectl" using apps/v1:\n- .spec.replicas\n' in err
    assert "--force-conflicts" in err  # kubectl recognised the conflict and printed its advice
    assert json.loads(await kubectl.run("get", "deploy", "ssa", "-o", "json"))["spec"]["replicas"] == 3
    await kubectl.run("apply", "--server-side", "--field-manager", "other", "--force-conflicts", "-f", "-",
                      stdin=conflicting)
    shown = yaml.safe_load(await kubectl.run("get", "deploy", "ssa", "-o", "yaml", "--show-managed-fields"))
    assert shown["spec"]["replicas"] == 7
    assert owners(shown) == {"kubectl": "Apply", "other": "Apply"}
    hidden = yaml.safe_load(await kubectl.run("get", "deploy", "ssa", "-o", "yaml"))
    assert "managedFields" not in hidden["metadata"]
    await kubectl.run("scale", "deploy", "ssa", "--replicas=4")
    scaled = json.loads(await kubectl.run("get", "deploy", "ssa", "-o", "json", "--show-managed-fields"))
    entries = {f"{e['manager']} {e['operation']} {e.get('subresource', '')}": e["fieldsV1"]
               for e in scaled["metadata"]["managedFields"]}
    # the scale subresource write took .spec.replicas from the appliers, as an Update
    assert entries["kubectl Update scale"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in entries["other Apply "]["f:spec"]
    assert "f:replicas" not in entries["kubectl Apply "]["f:spec"]
    # kubectl run (JSON) records its own manager for the created pod
    await kubectl.run("run", "r", "--image=busybox")
    created = json.loads(await kubectl.run("get", "pod", "r", "-o", "json", "--show-managed-fields"))
    assert owners(created) == {"kubectl-run": "Update"}
    # an object made by client-side apply moves to server-side apply: after its first server-side
    # apply kubectl rewrites managedFields with a JSON patch (kubectl-client-side-apply -> kubectl
    # Apply), so a changed re-apply then has no conflict
    await kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(deployment("csa", 1)))
    assert owners(json.loads(await kubectl.run("get", "deploy", "csa", "-o", "json", "--show-managed-fields"))) \
        == {"kubectl-client-side-apply": "Update"}
    await kubectl.run("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(deployment("csa", 1)))
    moved = json.loads(await kubectl.run("get", "deploy", "csa", "-o", "json", "--show-managed-fields"))
    assert owners(moved) == {"kubectl": "Apply", "kubectl-last-applied": "Apply"}
    await kubectl.run("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(deployment("csa", 2)))
    assert json.loads(await kubectl.run("get", "deploy", "csa", "-o", "json"))["spec"]["replicas"] == 2

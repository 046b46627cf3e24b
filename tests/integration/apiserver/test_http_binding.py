"""`pods/binding` over the Kubernetes HTTP API: a scheduler written with a Kubernetes client
binds pending pods the way it would on any cluster, and bad bindings get clear errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes import client as k8s

from apiserver.server import ApiServer
from tests.integration.httpapi import running_http_apiserver

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with running_http_apiserver(tmp_path) as server:
        yield server


def _bind_with_the_python_client(url: str) -> tuple[int, dict[str, Any], str]:
    """What a custom scheduler written with the official client does: create a pod, bind it."""
    config = k8s.Configuration()
    config.host = url
    core = k8s.CoreV1Api(k8s.ApiClient(config))
    core.create_namespaced_pod("default", k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="pending"),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="busybox")])))
    body = k8s.V1Binding(metadata=k8s.V1ObjectMeta(name="pending", annotations={"scheduled-by": "custom"}),
                         target=k8s.V1ObjectReference(api_version="v1", kind="Node", name="node-7"))
    # The client would read the answer as a Binding; Kubernetes answers a Status, hence raw.
    answer = core.create_namespaced_pod_binding("pending", "default", body, _preload_content=False)
    node = core.read_namespaced_pod("pending", "default").spec.node_name
    return answer.status, json.loads(answer.data), node


async def test_a_client_library_scheduler_binds_a_pod(api: ApiServer) -> None:
    status, answer, node = await asyncio.to_thread(_bind_with_the_python_client, api.http.url)
    assert (status, answer["kind"], answer["status"]) == (201, "Status", "Success")
    assert node == "node-7"
    pod = json.loads(await api.service.get("pods", "default", "pending"))
    conditions = pod["status"]["conditions"]
    assert {"type": "PodScheduled", "status": "True"}.items() <= conditions[0].items()
    # As in Kubernetes: the Binding's annotations are merged into the pod's, and the binding
    # is written below the field manager, so managedFields still hold only the create's entry.
    assert pod["metadata"]["annotations"] == {"scheduled-by": "custom"}
    assert [(e["manager"], e["operation"]) for e in pod["metadata"]["managedFields"]] == [
        ("OpenAPI-Generator", "Update")]
    assert "f:nodeName" not in json.dumps(pod["metadata"]["managedFields"])


async def test_bad_bindings_are_refused_with_a_clear_error(api: ApiServer) -> None:
    base = f"{api.http.url}/api/v1/namespaces/default"
    pods = f"{base}/pods"

    def binding(name: str = "p", target: dict[str, str] | None = None) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                "target": {"kind": "Node", "name": "n1"} if target is None else target}

    async with aiohttp.ClientSession() as session:
        async with session.post(pods, json={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}) as resp:
            assert resp.status == 201
        cases = [
            ("GET", f"{pods}/p/binding", None, 405, "MethodNotAllowed", "only POST"),
            ("POST", f"{base}/configmaps/p/binding", binding(), 404, "NotFound", ""),
            ("POST", f"{pods}/missing/binding", binding("missing"), 404, "NotFound", "missing"),
            ("POST", f"{pods}/p/binding", binding("other"), 400, "BadRequest", "does not match"),
            ("POST", f"{pods}/p/binding", binding(target={"kind": "Node"}), 422, "Invalid", "target.name"),
            ("POST", f"{pods}/p/binding", binding(target={"kind": "Pod", "name": "x"}), 422, "Invalid", "target.kind"),
            ("POST", f"{pods}/p/binding", [1], 400, "BadRequest", "v1 Binding"),
            ("POST", f"{pods}/p/binding", {**binding(), "metadata": {"annotations": {"a": 1}}}, 422, "Invalid",
             "metadata.annotations"),
        ]
        for method, url, body, code, reason, words in cases:
            async with session.request(method, url, json=body) as resp:
                answer = await resp.json(content_type=None)
                assert (resp.status, answer.get("reason")) == (code, reason), (method, url, answer)
                assert words in answer.get("message", ""), answer
        async with session.post(f"{pods}/p/binding", json=binding()) as resp:
            assert resp.status == 201
        async with session.post(f"{pods}/p/binding", json=binding(target={"kind": "Node", "name": "n2"})) as resp:
            answer = await resp.json()
            assert (resp.status, answer["reason"]) == (409, "Conflict")
            assert 'already assigned to node "n1"' in answer["message"]
        async with session.get(f"{api.http.url}/api/v1") as resp:
            names = {r["name"] for r in (await resp.json())["resources"]}
        assert "pods/binding" in names

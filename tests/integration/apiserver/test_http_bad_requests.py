"""Requests a careless or hostile client sends get the Status Kubernetes would send, and
the server keeps answering: bodies in the wrong format or too large, stale versions,
dry runs that must not persist, preconditions, deletecollection, pods/eviction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from apiserver.server import ApiServer
from tests.integration.apiserver.test_http_api import KUBECTL, Kubectl, api, deployment, pod

pytestmark = pytest.mark.integration
__all__ = ["api"]  # the fixture, shared with test_http_api

PROTOBUF = {"Content-Type": "application/vnd.kubernetes.protobuf"}
MERGE = {"Content-Type": "application/merge-patch+json"}


async def _status(resp: aiohttp.ClientResponse) -> tuple[int, str]:
    body = await resp.json(content_type=None)
    assert body.get("kind") == "Status", body
    return resp.status, str(body.get("reason"))


async def _still_serving(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(f"{base}/readyz") as resp:
        assert resp.status == 200
    async with session.get(f"{base}/api/v1/namespaces/default/pods") as resp:
        assert resp.status == 200


async def test_bodies_in_the_wrong_format_or_too_large(api: ApiServer) -> None:
    base = api.http.url
    pods = f"{base}/api/v1/namespaces/default/pods"
    big = b"{" + b" " * (10 * 1024 * 1024) + b"}"
    async with aiohttp.ClientSession() as session:
        async with session.post(pods, json=pod("p")) as resp:
            assert resp.status == 201
        cases: list[tuple[str, str, dict[str, Any], tuple[int, str]]] = [
            ("PUT", f"{pods}/p", {"data": b"{oops", "headers": {"Content-Type": "application/json"}},
             (400, "BadRequest")),
            ("PATCH", f"{pods}/p", {"data": b"{oops", "headers": MERGE}, (400, "BadRequest")),
            # Protobuf bodies are read (kubectl's generators send them), so a broken one is a 400;
            # a patch is never protobuf.
            ("PUT", f"{pods}/p", {"data": b"k8s\x00", "headers": PROTOBUF}, (400, "BadRequest")),
            ("PATCH", f"{pods}/p", {"data": b"k8s\x00", "headers": PROTOBUF}, (415, "UnsupportedMediaType")),
            ("PATCH", f"{pods}/p", {"data": b"{}", "headers": {"Content-Type": "application/xml"}},
             (415, "UnsupportedMediaType")),
            ("PATCH", f"{pods}/p", {"data": big, "headers": MERGE}, (413, "RequestEntityTooLarge")),
            ("PUT", f"{pods}/p", {"data": big, "headers": {"Content-Type": "application/json"}},
             (413, "RequestEntityTooLarge")),
            ("POST", f"{base}/api/v1/namespaces/default/gadgets", {"json": pod("g")}, (404, "NotFound")),
            ("POST", f"{base}/apis/nothere.io/v1/namespaces/default/things", {"json": {}}, (404, "NotFound")),
            ("DELETE", f"{pods}/p?dryRun=Yes", {}, (400, "BadRequest")),
            ("POST", f"{pods}/p/eviction", {"json": {"apiVersion": "policy/v1", "kind": "Eviction",
                                                     "metadata": {"name": "other"}}}, (400, "BadRequest")),
            ("GET", f"{pods}/p/eviction", {}, (405, "MethodNotAllowed")),
            ("POST", f"{base}/api/v1/namespaces/default/configmaps/c/eviction", {"json": {}}, (404, "NotFound")),
        ]
        for method, url, kwargs, expected in cases:
            async with session.request(method, url, **kwargs) as resp:
                assert await _status(resp) == expected, (method, url)
        await _still_serving(session, base)


async def test_versions_dry_runs_preconditions_collections_and_eviction(api: ApiServer) -> None:
    base = api.http.url
    pods = f"{base}/api/v1/namespaces/default/pods"
    deploys = f"{base}/apis/apps/v1/namespaces/default/deployments"
    async with aiohttp.ClientSession() as session:
        async with session.post(deploys, json=deployment("d")) as resp:
            created = await resp.json()
        stale = {**created, "spec": {**created["spec"], "replicas": 2}}
        async with session.put(f"{deploys}/d", json=stale) as resp:
            assert resp.status == 200
        async with session.put(f"{deploys}/d", json=stale) as resp:  # its resourceVersion is now stale
            assert await _status(resp) == (409, "Conflict")

        # dryRun=All answers as the write would and stores nothing
        async with session.post(f"{pods}?dryRun=All", json=pod("dry")) as resp:
            assert resp.status == 201 and (await resp.json())["metadata"]["name"] == "dry"
        async with session.get(f"{pods}/dry") as resp:
            assert resp.status == 404
        async with session.patch(f"{deploys}/d?dryRun=All", json={"spec": {"replicas": 9}}, headers=MERGE) as resp:
            assert (await resp.json())["spec"]["replicas"] == 9
        current = await (await session.get(f"{deploys}/d")).json()
        assert current["spec"]["replicas"] == 2
        async with session.put(f"{deploys}/d?dryRun=All", json={**current, "spec": {**current["spec"],
                                                                                 "replicas": 8}}) as resp:
            assert resp.status == 200 and (await resp.json())["spec"]["replicas"] == 8
        async with session.delete(f"{deploys}/d?dryRun=All") as resp:
            assert resp.status == 200
        async with session.delete(f"{deploys}/d", json={"dryRun": ["All"]}) as resp:
            assert resp.status == 200
        after = await (await session.get(f"{deploys}/d")).json()
        assert (after["spec"]["replicas"], after["metadata"]["resourceVersion"]) == (
            2, current["metadata"]["resourceVersion"])

        # preconditions on delete
        for pre in ({"uid": "not-the-uid"}, {"resourceVersion": created["metadata"]["resourceVersion"]}):
            async with session.delete(f"{deploys}/d", json={"preconditions": pre}) as resp:
                assert await _status(resp) == (409, "Conflict"), pre
        async with session.delete(f"{deploys}/d", json={"preconditions": {"uid": after["metadata"]["uid"]}}) as resp:
            assert resp.status == 200

        # deletecollection by label
        for name, app in (("a1", "a"), ("a2", "a"), ("b1", "b")):
            async with session.post(pods, json=pod(name, app=app)) as resp:
                assert resp.status == 201
        async with session.delete(f"{pods}?labelSelector=app%3Da&gracePeriodSeconds=0") as resp:
            assert resp.status == 200
        names = [p["metadata"]["name"] for p in (await (await session.get(pods)).json())["items"]]
        assert names == ["b1"]

        # pods/eviction deletes the pod (kubelite has no PodDisruptionBudgets to refuse it)
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "b1"},
                    "deleteOptions": {"gracePeriodSeconds": 0}}
        async with session.post(f"{pods}/b1/eviction?dryRun=All", json=eviction) as resp:
            assert resp.status == 201
        async with session.get(f"{pods}/b1") as resp:
            assert resp.status == 200
        async with session.post(f"{pods}/b1/eviction", json=eviction) as resp:
            assert (resp.status, (await resp.json())["status"]) == (201, "Success")
        async with session.get(f"{pods}/b1") as resp:
            assert resp.status == 404
        async with session.post(f"{pods}/b1/eviction", json=eviction) as resp:
            assert await _status(resp) == (404, "NotFound")
        await _still_serving(session, base)


async def test_field_validation_modes(api: ApiServer, tmp_path: Path) -> None:
    cms = f"{api.http.url}/api/v1/namespaces/default/configmaps"

    def cm(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "colour": "red"},
                "data": {"a": "1"}}

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{cms}?fieldValidation=Strict", json=cm("strict")) as resp:
            status = await resp.json()
        assert (resp.status, status["details"]["causes"][0]["field"]) == (422, "metadata.colour")
        async with session.post(cms, json=cm("unsaid")) as resp:  # none given: Warn, as Kubernetes
            assert resp.status == 201 and "colour" not in (await resp.json())["metadata"]
            assert resp.headers.getall("Warning") == ['299 - "unknown field \\"metadata.colour\\""']
        async with session.post(f"{cms}?fieldValidation=Warn", json=cm("warned")) as resp:
            assert resp.status == 201
            assert resp.headers.getall("Warning") == ['299 - "unknown field \\"metadata.colour\\""']
            assert "colour" not in (await resp.json())["metadata"]
        async with session.post(f"{cms}?fieldValidation=Ignore", json=cm("ignored")) as resp:
            assert resp.status == 201 and "Warning" not in resp.headers
        async with session.patch(f"{cms}/ignored?fieldValidation=Warn", json={"spec": {"x": 1}, "data": {"b": "2"}},
                                 headers=MERGE) as resp:
            assert resp.headers.getall("Warning") == ['299 - "unknown field \\"spec\\""']
            assert (await resp.json())["data"] == {"a": "1", "b": "2"}
        async with session.patch(f"{cms}/applied?fieldManager=m&fieldValidation=Ignore", json=cm("applied"),
                                 headers={"Content-Type": "application/apply-patch+yaml"}) as resp:
            assert resp.status == 201 and "colour" not in (await resp.json())["metadata"]
    if KUBECTL is not None:
        kubectl = Kubectl(api.http.url, tmp_path)
        manifest = json.dumps(cm("via-kubectl"))
        refused = await kubectl.run("create", "-f", "-", stdin=manifest, ok=False)
        assert "metadata.colour: Unsupported field" in refused
        warned = await kubectl.run("create", "--validate=warn", "-f", "-", stdin=manifest, ok=False)
        assert 'Warning: unknown field "metadata.colour"' in warned and "configmap/via-kubectl created" in warned


async def test_discovery_and_openapi_do_not_offer_protobuf(api: ApiServer) -> None:
    async with aiohttp.ClientSession() as session:
        texts = []
        for path in ("/api", "/apis", "/api/v1", "/apis/apps/v1", "/openapi/v3"):
            async with session.get(f"{api.http.url}{path}") as resp:
                texts.append(await resp.text())
        index = json.loads(texts[-1])["paths"]
        async with session.get(f"{api.http.url}{index['api/v1']['serverRelativeURL']}") as resp:
            texts.append(await resp.text())
        async with session.get(f"{api.http.url}/api/v1") as resp:
            core = {r["name"]: r for r in (await resp.json())["resources"]}
    assert not any("protobuf" in text for text in texts)
    assert core["pods/eviction"] == {"name": "pods/eviction", "singularName": "", "namespaced": True,
                                     "kind": "Eviction", "verbs": ["create"], "group": "policy", "version": "v1"}


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (the Debian package) is not installed")
async def test_kubectl_create_generators(api: ApiServer, tmp_path: Path) -> None:
    kubectl = Kubectl(api.http.url, tmp_path)
    out = await kubectl.run("create", "configmap", "cm", "--from-literal=a=1", ok=False)
    async with aiohttp.ClientSession() as session:
        await _still_serving(session, api.http.url)  # whatever the outcome, the server answers on
    assert "configmap/cm created" in out, out
    assert "deployment.apps/gen created" in await kubectl.run("create", "deployment", "gen", "--image=busybox")
    assert "secret/s created" in await kubectl.run("create", "secret", "generic", "s", "--from-literal=k=v")

"""The Kubernetes HTTP API (apiserver/http) driven by real clients: the official Python
`kubernetes` client, real `kubectl`, and raw requests for the error Statuses.

The apiserver runs in-process (HTTP beside gRPC) over a `kubelite kvstore` OS process.
The Python client is synchronous, so it runs in a worker thread while the event loop
serves it.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from apiserver.server import ApiServer
from tests.integration.httpapi import running_http_apiserver

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiServer]:
    # A short watch history, so a test can push an old resourceVersion out of it deterministically.
    async with running_http_apiserver(tmp_path, history=HISTORY) as server:
        yield server


HISTORY = 32


def python_client(url: str) -> k8s.ApiClient:
    config = k8s.Configuration()
    config.host = url
    return k8s.ApiClient(config)


def deployment(name: str, replicas: int = 1, image: str = "busybox:1") -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


# ---- the Python client -----------------------------------------------------------------------

def _client_crud(url: str) -> None:
    api = python_client(url)
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    created = core.create_namespaced_pod("default", pod("p1", app="web"))
    assert created.metadata.uid and created.status.phase == "Pending"
    core.create_namespaced_pod("default", pod("p2", app="db"))
    generated = core.create_namespaced_pod("default", {**pod(""), "metadata": {"generateName": "gen-"}})
    assert generated.metadata.name.startswith("gen-")
    assert [p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=web").items] == ["p1"]
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(
        field_selector="metadata.name=p2").items] == ["p2"]
    page = core.list_namespaced_pod("default", limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = core.list_namespaced_pod("default", limit=2, _continue=page.metadata._continue)
    assert len(rest.items) == 1 and not rest.metadata._continue
    # patches: the client sends strategic merge for a dict, json-patch for a list
    patched = core.patch_namespaced_pod("p1", "default", {"metadata": {"labels": {"tier": "fe"}}})
    assert patched.metadata.labels == {"app": "web", "tier": "fe"}
    patched = core.patch_namespaced_pod("p1", "default", [{"op": "remove", "path": "/metadata/labels/tier"}])
    assert patched.metadata.labels == {"app": "web"}
    # optimistic concurrency: a stale resourceVersion is 409 Conflict
    stale = core.read_namespaced_pod("p1", "default")
    core.patch_namespaced_pod("p1", "default", {"metadata": {"annotations": {"x": "1"}}})
    with pytest.raises(k8s.ApiException) as conflict:
        core.replace_namespaced_pod("p1", "default", stale)
    assert conflict.value.status == 409 and json.loads(conflict.value.body)["reason"] == "Conflict"
    # deployments, the scale and status subresources
    apps.create_namespaced_deployment("default", deployment("web", 2))
    scale = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4 and scale.status.selector == "app=web"
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 4
    current = apps.read_namespaced_deployment_status("web", "default")
    current.status = k8s.V1DeploymentStatus(replicas=4, observed_generation=current.metadata.generation)
    assert apps.replace_namespaced_deployment_status("web", "default", current).status.replicas == 4
    assert apps.read_namespaced_deployment("web", "default").status.replicas == 4
    image = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}}}
    after = apps.patch_namespaced_deployment("web", "default", image)
    assert [c.image for c in after.spec.template.spec.containers] == ["busybox:2"]
    dry = apps.create_namespaced_deployment("default", deployment("dry"), dry_run="All")
    assert dry.metadata.name == "dry"
    with pytest.raises(k8s.ApiException) as missing:
        apps.read_namespaced_deployment("dry", "default")
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["details"] == {"name": "dry", "kind": "deployments", "group": "apps"}
    # deletes: DeleteOptions body with preconditions and propagation
    with pytest.raises(k8s.ApiException) as precondition:
        core.delete_namespaced_pod("p2", "default", body=k8s.V1DeleteOptions(
            preconditions=k8s.V1Preconditions(uid="not-the-uid")))
    assert precondition.value.status == 409
    core.delete_namespaced_pod("p2", "default", grace_period_seconds=0)
    apps.delete_namespaced_deployment("web", "default", propagation_policy="Background")
    assert [d.metadata.name for d in apps.list_namespaced_deployment("default").items] == []
    assert "p2" not in [p.metadata.name for p in core.list_namespaced_pod("default").items]


async def test_python_client_crud_patch_scale_status_delete(api: ApiServer) -> None:
    await asyncio.to_thread(_client_crud, api.http.url)


def _watch_events(url: str, events: queue.Queue[tuple[str, str]], stop: threading.Event) -> None:
    core = k8s.CoreV1Api(python_client(url))
    w = k8s_watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, "default", timeout_seconds=30):
        events.put((ev["type"], ev["object"].metadata.name))
        if stop.is_set() or ev["type"] == "DELETED":
            w.stop()


async def test_python_client_watch_live_replay_and_expired(api: ApiServer) -> None:
    core = k8s.CoreV1Api(python_client(api.http.url))
    events: queue.Queue[tuple[str, str]] = queue.Queue()
    stop = threading.Event()
    watcher = asyncio.create_task(asyncio.to_thread(_watch_events, api.http.url, events, stop))

    async def next_event() -> tuple[str, str]:
        return await asyncio.to_thread(events.get, True, 20)

    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}
    start_rv = (await asyncio.to_thread(core.list_namespaced_config_map, "default")).metadata.resource_version
    await asyncio.to_thread(core.create_namespaced_config_map, "default", cm)
    assert await next_event() == ("ADDED", "cm")  # live, or the initial state if the watch began later
    await asyncio.to_thread(core.patch_namespaced_config_map, "cm", "default", {"data": {"a": "2"}})
    assert await next_event() == ("MODIFIED", "cm")
    await asyncio.to_thread(core.delete_namespaced_config_map, "cm", "default")
    assert await next_event() == ("DELETED", "cm")
    await watcher

    # replay from a resourceVersion, raw: one JSON event per line
    async with aiohttp.ClientSession() as session:
        url = f"{api.http.url}/api/v1/namespaces/default/configmaps"
        async with session.get(url, params={"watch": "1", "resourceVersion": start_rv, "timeoutSeconds": "1",
                                            "allowWatchBookmarks": "true"}) as resp:
            assert resp.status == 200
            lines = [json.loads(line) async for line in resp.content if line.strip()]
        assert [e["type"] for e in lines if e["type"] != "BOOKMARK"] == ["ADDED", "MODIFIED", "DELETED"]
        # Push the start of the history past `start_rv`: a watch from it is then too old.
        await asyncio.to_thread(core.create_namespaced_config_map, "default", {**cm, "metadata": {"name": "churn"}})
        for i in range(HISTORY + 4):
            await asyncio.to_thread(core.patch_namespaced_config_map, "churn", "default", {"data": {"a": str(i)}})
        async with session.get(url, params={"watch": "true", "resourceVersion": start_rv}) as resp:
            assert resp.status == 200
            expired = json.loads(await resp.content.readline())
        assert expired["type"] == "ERROR"
        assert (expired["object"]["code"], expired["object"]["reason"]) == (410, "Expired")


# ---- errors ----------------------------------------------------------------------------------

async def test_bad_requests_get_kubernetes_statuses(api: ApiServer) -> None:
    base = api.http.url
    pods = f"{base}/api/v1/namespaces/default/pods"
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", f"{base}/api/v1/namespaces/default/widgets", {}, 404, "NotFound"),
        ("GET", f"{base}/apis/apps/v1/namespaces/default/pods", {}, 404, "NotFound"),
        ("GET", f"{pods}/missing", {}, 404, "NotFound"),
        ("GET", f"{pods}?labelSelector=a%3D%3D%3Db", {}, 400, "BadRequest"),
        ("GET", f"{pods}?limit=x", {}, 400, "BadRequest"),
        ("POST", pods, {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "BadRequest"),
        ("POST", pods, {"data": b"x", "headers": {"Content-Type": "application/vnd.kubernetes.protobuf"}},
         400, "BadRequest"),  # protobuf is read (kubectl's typed clients send it), but this is no envelope
        ("POST", pods, {"data": b"x", "headers": {"Content-Type": "text/plain"}}, 415, "UnsupportedMediaType"),
        ("POST", pods, {"data": b"[1]", "headers": {"Content-Type": "application/json"}}, 400, "BadRequest"),
        ("POST", pods, {"json": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                 "spec": {"containers": [{"name": "c"}]}}}, 422, "Invalid"),
        ("POST", pods, {"json": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "bogus": 1}},
         422, "Invalid"),
        ("POST", pods, {"data": b" " * (10 * 1024 * 1024), "headers": {"Content-Type": "application/json"}},
         413, "RequestEntityTooLarge"),
        ("POST", f"{pods}?dryRun=Some", {"json": pod("p")}, 400, "BadRequest"),
        ("PATCH", f"{pods}/missing", {"data": b"{}", "headers": {"Content-Type": "text/plain"}},
         415, "UnsupportedMediaType"),
        ("PUT", f"{base}/api/v1/namespaces/default/configmaps/x/scale", {"json": {}}, 404, "NotFound"),
        ("POST", f"{base}/api/v1/namespaces/default/configmaps/x/eviction", {"json": {}}, 404, "NotFound"),
        ("POST", f"{base}/api/v1/namespaces/default/pods/x/token", {"json": {}}, 404, "NotFound"),
        ("GET", f"{pods}/x/eviction", {}, 405, "MethodNotAllowed"),
        ("POST", f"{pods}/missing/eviction", {"json": {}}, 404, "NotFound"),
    ]
    async with aiohttp.ClientSession() as session:
        for method, url, kwargs, code, reason in cases:
            async with session.request(method, url, **kwargs) as resp:
                body = await resp.json(content_type=None)
                assert (resp.status, body.get("reason"), body.get("kind")) == (code, reason, "Status"), \
                    (method, url, body)
        async with session.post(pods, json=pod("p")) as resp:
            assert resp.status == 201
        async with session.post(pods, json=pod("p")) as resp:
            assert (resp.status, (await resp.json())["reason"]) == (409, "AlreadyExists")
        patch = [{"op": "test", "path": "/metadata/name", "value": "other"}]
        async with session.patch(f"{pods}/p", json=patch,
                                 headers={"Content-Type": "application/json-patch+json"}) as resp:
            assert (resp.status, (await resp.json())["reason"]) == (422, "Invalid")
        # pods/eviction (kubectl drain): no PodDisruptionBudgets here, so the pod is deleted with the
        # Eviction's deleteOptions.
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"},
                    "deleteOptions": {"gracePeriodSeconds": 0}}
        async with session.post(f"{pods}/p/eviction", json=eviction) as resp:
            assert (resp.status, (await resp.json())["status"]) == (201, "Success")
        async with session.get(f"{pods}/p") as resp:
            gone = resp.status == 404 or "deletionTimestamp" in (await resp.json())["metadata"]
        assert gone
        async with session.get(f"{base}/readyz") as resp:
            assert resp.status == 200


async def test_table_output_and_discovery(api: ApiServer) -> None:
    async with aiohttp.ClientSession() as session:
        pods = f"{api.http.url}/api/v1/namespaces/default/pods"
        async with session.post(pods, json=pod("t1", app="web")) as resp:
            assert resp.status == 201
        table_type = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        async with session.get(pods, headers={"Accept": table_type}) as resp:
            table = await resp.json()
        assert table["kind"] == "Table"
        assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == \
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert table["rows"][0]["cells"][:4] == ["t1", "0/1", "Pending", "0"]
        assert table["rows"][0]["object"]["metadata"]["labels"] == {"app": "web"}
        async with session.get(f"{api.http.url}/apis/apps/v1") as resp:
            resources = {r["name"]: r for r in (await resp.json())["resources"]}
        assert resources["deployments"]["shortNames"] == ["deploy"]
        assert resources["deployments"]["categories"] == ["all"]
        assert resources["deployments/scale"]["kind"] == "Scale"
        assert "deployments/status" in resources
        async with session.get(f"{api.http.url}/api/v1") as resp:
            core = {r["name"]: r for r in (await resp.json())["resources"]}
        assert (core["pods/eviction"]["group"], core["pods/eviction"]["verbs"]) == ("policy", ["create"])
        assert core["serviceaccounts/token"]["kind"] == "TokenRequest"
        aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        async with session.get(f"{api.http.url}/apis", headers={"Accept": aggregated}) as resp:
            assert resp.headers["Content-Type"] == aggregated
            groups = {g["metadata"]["name"] for g in (await resp.json())["items"]}
        assert groups == {"apiextensions.k8s.io", "apps", "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
                          "certificates.k8s.io", "coordination.k8s.io", "metrics.k8s.io", "networking.k8s.io", "policy",
                          "rbac.authorization.k8s.io", "storage.k8s.io"}  # the review kinds' groups too (accessapi)
        async with session.get(f"{api.http.url}/openapi/v3") as resp:
            index = (await resp.json())["paths"]
        async with session.get(f"{api.http.url}{index['apis/apps/v1']['serverRelativeURL']}") as resp:
            doc = await resp.json()
        assert doc["components"]["schemas"]["Deployment"]["x-kubernetes-group-version-kind"] == [
            {"group": "apps", "version": "v1", "kind": "Deployment"}]


# ---- real kubectl ----------------------------------------------------------------------------

KUBECTL = shutil.which("kubectl")


class Kubectl:
    def __init__(self, url: str, tmp: Path) -> None:
        config = tmp / "kubeconfig"
        config.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "kl",
            "clusters": [{"name": "kl", "cluster": {"server": url}}],
            "contexts": [{"name": "kl", "context": {"cluster": "kl", "user": "u", "namespace": "default"}}],
            "users": [{"name": "u", "user": {}}]}))
        (tmp / "cache").mkdir()
        self.env = {**os.environ, "KUBECONFIG": str(config), "KUBECACHEDIR": str(tmp / "cache"),
                    "HOME": str(tmp)}

    async def run(self, *args: str, stdin: str = "", ok: bool = True) -> str:
        assert KUBECTL is not None
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env)
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
        if ok:
            assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
        return out.decode() + ("" if ok else err.decode())


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (the Debian package) is not installed")
async def test_real_kubectl(api: ApiServer, tmp_path: Path) -> None:
    kubectl = Kubectl(api.http.url, tmp_path)
    assert "Server Version: v1.32.0-kubelite" in await kubectl.run("version")
    resources = await kubectl.run("api-resources")
    assert any(line.split()[:2] == ["deployments", "deploy"] for line in resources.splitlines())
    assert "No resources found" in await kubectl.run("get", "pods", "-A", ok=False)
    manifest = json.dumps(deployment("web", 2))
    assert "deployment.apps/web created" in await kubectl.run("apply", "-f", "-", stdin=manifest)
    changed = deployment("web", 3)
    changed["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox:3"})
    assert "deployment.apps/web configured" in await kubectl.run("apply", "-f", "-", stdin=json.dumps(changed))
    obj = json.loads(await kubectl.run("get", "deploy", "web", "-o", "json"))
    assert obj["spec"]["replicas"] == 3
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["main", "side"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    assert "replicas: 3" in await kubectl.run("get", "deploy", "web", "-o", "yaml")
    table = (await kubectl.run("get", "deploy", "-o", "wide")).splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES",
                                "SELECTOR"]
    assert table[1].split()[:2] == ["web", "0/3"]
    assert "deployment.apps/web labeled" in await kubectl.run("label", "deploy", "web", "tier=fe")
    await kubectl.run("annotate", "deploy", "web", "note=hi")
    await kubectl.run("patch", "deploy", "web", "--type", "merge", "-p", '{"spec":{"paused":true}}')
    await kubectl.run("patch", "deploy", "web", "--type", "json",
                      "-p", '[{"op":"replace","path":"/spec/replicas","value":5}]')
    await kubectl.run("patch", "deploy", "web", "-p",
                      '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:4"}]}}}}')
    await kubectl.run("scale", "deploy", "web", "--replicas=6")
    await kubectl.run("set", "image", "deploy/web", "main=busybox:5")
    obj = json.loads(await kubectl.run("get", "deploy", "web", "-o", "json"))
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "fe"}
    assert obj["metadata"]["annotations"]["note"] == "hi"
    assert obj["spec"]["paused"] is True and obj["spec"]["replicas"] == 6
    assert [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["busybox:5", "busybox:4"]
    shown = await kubectl.run("get", "deploy", "--show-labels", "-A")
    assert "app=web,tier=fe" in shown and shown.split()[0] == "NAMESPACE"
    missing = await kubectl.run("get", "deploy", "nope", ok=False)
    assert 'Error from server (NotFound): deployments.apps "nope" not found' in missing
    assert 'deployment.apps "web" deleted' in await kubectl.run("delete", "deploy", "web")
    assert "No resources found" in await kubectl.run("get", "deploy", ok=False)


# ---- TLS -------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_https_with_a_server_certificate(tmp_path: Path) -> None:
    import ssl
    import subprocess

    from apiserver.http import server_ssl_context

    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    async with running_http_apiserver(tmp_path, http_ssl=server_ssl_context(str(cert), str(key))) as server:
        assert server.http.url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.http.url}/version", ssl=trust) as resp:
                assert (await resp.json())["minor"] == "32"

"""CustomResourceDefinitions over the Kubernetes HTTP API, driven by real kubectl and the Python client.

The apiserver runs in-process (HTTP beside gRPC) over a `kubelite kvstore` process, as in
tests/integration/apiserver/test_http_api.py.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from apiserver.options import ListOptions
from apiserver.server import ApiServer
from tests.integration.apiserver.test_http_api import KUBECTL, Kubectl, python_client
from tests.integration.crd.greeting import CRD_NAME, GROUP, greeting, greeting_crd
from tests.integration.httpapi import running_http_apiserver
from tests.polling import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with running_http_apiserver(tmp_path) as server:
        yield server


async def established(api: ApiServer) -> None:
    async def check() -> bool:
        raw = await api.service.get("customresourcedefinitions", "", CRD_NAME)
        conditions = json.loads(raw).get("status", {}).get("conditions", [])
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
    await eventually(check, "the CRD to be established", timeout=10)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (the Debian package) is not installed")
async def test_kubectl_crd_lifecycle(api: ApiServer, tmp_path: Path) -> None:
    kubectl = Kubectl(api.http.url, tmp_path)
    out = await kubectl.run("apply", "-f", "-", stdin=json.dumps(greeting_crd()))
    assert f"customresourcedefinition.apiextensions.k8s.io/{CRD_NAME} created" in out
    assert CRD_NAME in await kubectl.run("get", "crd")
    await kubectl.run("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=20s")
    resources = await kubectl.run("api-resources", f"--api-group={GROUP}")
    assert any(line.split()[:2] == ["greetings", "gr"] for line in resources.splitlines())

    # kubectl asks for strict field validation: an unknown field is an error, not silently pruned
    strict = await kubectl.run("apply", "-f", "-", stdin=json.dumps(greeting("hi", "hello", junk="x")), ok=False)
    assert 'unknown field "spec.junk"' in strict
    assert "greeting.demo.kubelite.io/hi created" in await kubectl.run(
        "apply", "-f", "-", stdin=json.dumps(greeting("hi", "hello")))
    table = (await kubectl.run("get", "greetings")).splitlines()
    assert table[0].split() == ["NAME", "MESSAGE", "REPLICAS", "PHASE", "AGE"]
    assert table[1].split()[:4] == ["hi", "hello", "1", "<none>"]
    obj = json.loads(await kubectl.run("get", "gr", "hi", "-o", "json"))
    assert obj["spec"] == {"message": "hello", "replicas": 1, "style": "plain"}  # defaulted
    # a changed re-apply (client-side apply: a merge patch for a custom kind)
    assert "configured" in await kubectl.run("apply", "-f", "-", stdin=json.dumps(greeting("hi", "bonjour")))
    assert json.loads(await kubectl.run("get", f"greetings.{GROUP}", "hi", "-o", "json"))["spec"]["message"] \
        == "bonjour"

    explained = await kubectl.run("explain", "greeting.spec")
    assert "message" in explained and "What to say." in explained

    bad = await kubectl.run("apply", "-f", "-", stdin=json.dumps(greeting("bad", "x", replicas="many")),
                            ok=False)
    assert "spec.replicas" in bad and "Invalid" in bad

    await kubectl.run("patch", "greeting", "hi", "--subresource=status", "--type=merge",
                      "-p", '{"status":{"phase":"Ready","replicas":2}}')
    obj = json.loads(await kubectl.run("get", "greeting", "hi", "-o", "json"))
    assert obj["status"] == {"phase": "Ready", "replicas": 2}
    generation = obj["metadata"]["generation"]
    # status is ignored on writes to the main resource; spec on writes to status
    await kubectl.run("patch", "greeting", "hi", "--type=merge", "-p", '{"status":{"phase":"Hacked"}}')
    await kubectl.run("patch", "greeting", "hi", "--subresource=status", "--type=merge",
                      "-p", '{"spec":{"message":"ignored"}}')
    obj = json.loads(await kubectl.run("get", "greeting", "hi", "-o", "json"))
    assert obj["status"]["phase"] == "Ready" and obj["spec"]["message"] == "bonjour"
    assert obj["metadata"]["generation"] == generation

    assert "scaled" in await kubectl.run("scale", "greeting", "hi", "--replicas=4")
    obj = json.loads(await kubectl.run("get", "greeting", "hi", "-o", "json"))
    assert obj["spec"]["replicas"] == 4 and obj["metadata"]["generation"] == generation + 1

    wrong_patch = await kubectl.run("patch", "greeting", "hi", "--type=strategic", "-p", '{"spec":{}}', ok=False)
    assert "UnsupportedMediaType" in wrong_patch or "415" in wrong_patch or "unknown format" in wrong_patch

    await kubectl.run("delete", "crd", CRD_NAME)
    assert CRD_NAME not in await kubectl.run("get", "crd", ok=False)
    kv = await api.etcd.range(f"/registry/{GROUP}/", f"/registry/{GROUP}0".encode())
    assert kv.kvs == []  # the CRD's objects went with it
    missing = await kubectl.run("get", "greetings", ok=False)  # (kubectl may still have the kind cached)
    assert "the server doesn't have a resource type" in missing or "the server could not find" in missing


async def test_bad_crds_are_refused_with_field_causes(api: ApiServer) -> None:
    crd = greeting_crd()
    crd["metadata"]["name"] = "wrong.name"
    crd["spec"]["scope"] = "Galaxy"
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["message"] = {
        "type": "text"}
    with pytest.raises(Exception) as err:
        await api.service.create("customresourcedefinitions", "", json.dumps(crd).encode())
    fields = {c.field for c in getattr(err.value, "causes", [])}
    assert {"metadata.name", "spec.scope",
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[message].type"} <= fields


# ---- the Python client -----------------------------------------------------------------------

def _custom_objects(url: str, events: queue.Queue[tuple[str, str, Any]]) -> None:
    api = python_client(url)
    ext = k8s.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(greeting_crd())
    custom = k8s.CustomObjectsApi(api)
    for _ in range(100):
        try:
            custom.list_namespaced_custom_object(GROUP, "v1", "default", "greetings")
            break
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
            threading.Event().wait(0.1)
    created = custom.create_namespaced_custom_object(GROUP, "v1", "default", "greetings",
                                                     greeting("a", "hi", port="http", junk=1))
    # no fieldValidation asked for: unknown fields are pruned (the schema's rule), defaults filled in
    assert created["spec"] == {"message": "hi", "port": "http", "replicas": 1, "style": "plain"}
    custom.create_namespaced_custom_object(GROUP, "v1", "default", "greetings",
                                           {**greeting("b", "yo", port=80), "metadata": {"name": "b",
                                                                                          "labels": {"x": "1"}}})
    names = [o["metadata"]["name"] for o in custom.list_namespaced_custom_object(
        GROUP, "v1", "default", "greetings", label_selector="x=1")["items"]]
    assert names == ["b"]
    names = [o["metadata"]["name"] for o in custom.list_cluster_custom_object(
        GROUP, "v1", "greetings", field_selector="metadata.name=a")["items"]]
    assert names == ["a"]
    patched = custom.patch_namespaced_custom_object(GROUP, "v1", "default", "greetings", "a",
                                                    {"spec": {"message": "patched"}})
    assert patched["spec"]["message"] == "patched"
    status = custom.patch_namespaced_custom_object_status(GROUP, "v1", "default", "greetings", "a",
                                                          {"status": {"phase": "Done"}})
    assert status["status"] == {"phase": "Done"}
    try:
        custom.create_namespaced_custom_object(GROUP, "v1", "default", "greetings", greeting("c", "x", style="odd"))
        raise AssertionError("a bad enum value was accepted")
    except k8s.ApiException as exc:
        assert exc.status == 422
        causes = json.loads(exc.body)["details"]["causes"]
        assert [c["field"] for c in causes] == ["spec.style"]
    stream = k8s_watch.Watch().stream(custom.list_namespaced_custom_object, GROUP, "v1", "default", "greetings",
                                      resource_version=patched["metadata"]["resourceVersion"], timeout_seconds=5)
    for event in stream:
        events.put((event["type"], event["object"]["metadata"]["name"], event["object"].get("status")))
        break
    custom.delete_namespaced_custom_object(GROUP, "v1", "default", "greetings", "b")


async def test_python_client_custom_objects(api: ApiServer) -> None:
    events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
    await asyncio.to_thread(_custom_objects, api.http.url, events)
    assert events.get_nowait() == ("MODIFIED", "a", {"phase": "Done"})
    listed = await api.service.list(f"greetings.{GROUP}", "default", ListOptions())
    assert [json.loads(i)["metadata"]["name"] for i in listed.items] == ["a"]


async def test_a_crd_reusing_a_built_in_plural_is_not_established(api: ApiServer) -> None:
    crd = greeting_crd()
    crd["metadata"]["name"] = f"pods.{GROUP}"
    crd["spec"]["names"] = {"plural": "pods", "kind": "Pod"}
    await api.service.create("customresourcedefinitions", "", json.dumps(crd).encode())

    async def refused() -> dict[str, str] | None:
        raw = await api.service.get("customresourcedefinitions", "", f"pods.{GROUP}")
        conditions = {c["type"]: c for c in json.loads(raw).get("status", {}).get("conditions", [])}
        names = conditions.get("NamesAccepted")
        return names if names and names["status"] == "False" else None

    names = await eventually(refused, "NamesAccepted=False", timeout=10)
    assert "built-in" in names["message"]
    listed = await api.service.list("pods", "default", ListOptions())
    assert listed.items == []  # `pods` is still the built-in kind

"""The hostile manifests of issue 19, kept as regression tests against the fuzz apiserver
(gRPC, HTTPS and kctl): each is refused with a client error naming the problem, nothing is
stored, and the server stays healthy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubelite.api.errors import ApiError
from kubelite.api.limits import MAX_REQUEST_BODY_BYTES
from kubelite.pb.kubelite import api_pb2
from tests.fuzz.harness import NAMESPACE, Target, fresh_name
from tests.fuzz.seeds import seed
from tests.integration.kubectl.test_kctl import Kctl

pytestmark = pytest.mark.integration


def deployment(replicas: Any) -> dict[str, Any]:
    body = seed("Deployment", fresh_name())
    body["spec"]["replicas"] = replicas
    return body


@pytest.mark.parametrize("replicas", [10**12, 1e12, 2**31, 2**63])
async def test_huge_replicas_are_422_naming_the_field(target: Target, replicas: Any) -> None:
    body = json.dumps(deployment(replicas)).encode()
    code, reason, _ = await target.grpc_create("Deployment", body, NAMESPACE)
    assert (code, reason) == (422, "Invalid")
    status, reason, answer = await target.http("POST", target.path("Deployment", NAMESPACE), body)
    assert (status, reason) == (422, "Invalid")
    assert answer["details"]["causes"][0]["field"] == "spec.replicas"
    assert "must be less than or equal to 2147483647" in answer["message"]
    assert await target.names("Deployment", NAMESPACE) == set()


async def test_a_3_mib_configmap_is_413_everywhere(target: Target, tmp_path: Path) -> None:
    cm = seed("ConfigMap", fresh_name())
    cm["data"] = {"big": "x" * MAX_REQUEST_BODY_BYTES}
    body = json.dumps(cm).encode()
    code, reason, _ = await target.grpc_create("ConfigMap", body, NAMESPACE)
    assert (code, reason) == (413, "RequestEntityTooLarge")
    status, reason, _ = await target.http("POST", target.path("ConfigMap", NAMESPACE), body)
    assert (status, reason) == (413, "RequestEntityTooLarge")
    path = tmp_path / "big.json"
    path.write_bytes(body)
    result = await Kctl(target.plane.server)("create", "-f", str(path), "-n", NAMESPACE)
    assert result.code == 1 and "Traceback" not in result.err
    assert result.err.startswith(f"error: {path}: document 1 (ConfigMap/"), result.err  # refused before sending
    assert "must have at most 1048576 bytes" in result.err
    assert await target.names("ConfigMap", NAMESPACE) == set()
    await target.healthy()


@pytest.mark.parametrize("media", ["application/json", "application/yaml"])
async def test_100000_deep_bodies_are_400(target: Target, media: str) -> None:
    if media == "application/json":
        deep = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":' \
            + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}"
    else:
        deep = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: " + b"[" * 100_000 + b"]" * 100_000
    status, reason, answer = await target.http("POST", target.path("ConfigMap", NAMESPACE), deep, media)
    assert (status, reason) == (400, "BadRequest"), answer
    assert "nested too deeply" in answer["message"]
    await target.healthy()


@pytest.mark.parametrize(("text", "message"), [
    ("a: " + "[" * 20_000 + "]" * 20_000 + "\n", "document 1: invalid YAML: the object is nested too deeply"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
     'document 1: invalid YAML at line 5, column 3: key "name" already set in map (first set at line 4)'),
    ("", "no objects passed to apply ({path}: no documents)"),
    ("null\n", "no objects passed to apply ({path}: document 1 is null)"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: busybox}]\n"
     "  terminationGracePeriodSeconds: 1e400\n", "spec.terminationGracePeriodSeconds"),
])
async def test_kctl_refuses_hostile_files_with_exit_1(target: Target, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    result = await Kctl(target.plane.server)("apply", "-f", str(path), "-n", NAMESPACE)
    assert result.code == 1, result
    assert "Traceback" not in result.err and "unexpectedly" not in result.err
    assert result.err.startswith("error: "), result.err
    assert message.format(path=path) in result.err, result.err
    assert str(path) in result.err


# ---- bugs the fuzzers found (kept as regressions) --------------------------------------------------

async def test_deep_server_side_apply_is_400(target: Target) -> None:
    """The apply configuration was parsed without any depth check: a RecursionError, a 500."""
    name = fresh_name()
    deep = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: ".encode() + b"[" * 5_000
    status, reason, answer = await target.http(
        "PATCH", target.path("ConfigMap", NAMESPACE, name) + "?fieldManager=fuzz", deep, "application/apply-patch+yaml")
    assert (status, reason) == (400, "BadRequest"), answer
    assert "nested too deeply" in answer["message"]
    await target.healthy()


async def test_a_lone_surrogate_is_400_not_a_stored_object_nobody_can_read(target: Target) -> None:
    """`"\\ud800"` decodes, but UTF-8 cannot encode it: the object was stored, then the answer (and
    every later list) failed with INTERNAL."""
    body = seed("ConfigMap", fresh_name())
    body["data"] = {"k": "\ud800"}
    raw = json.dumps(body).encode()
    code, reason, _ = await target.grpc_create("ConfigMap", raw, NAMESPACE)
    assert (code, reason) == (400, "BadRequest")
    status, reason, answer = await target.http("POST", target.path("ConfigMap", NAMESPACE), raw)
    assert (status, reason) == (400, "BadRequest")
    assert "unpaired UTF-16 surrogate" in answer["message"]
    assert await target.names("ConfigMap", NAMESPACE) == set()
    await target.healthy()


async def test_an_error_quoting_a_huge_value_still_reaches_a_grpc_client(target: Target) -> None:
    """A 300 KB apiVersion is echoed by the error; the Status overflowed gRPC's metadata limit and
    the client got RESOURCE_EXHAUSTED (503) instead of the 400."""
    body = seed("Pod", fresh_name())
    body["apiVersion"] = "h" * 300_000
    code, reason, _ = await target.grpc_create("Pod", json.dumps(body).encode(), NAMESPACE)
    assert 400 <= code < 500 and reason in ("BadRequest", "Invalid"), (code, reason)
    try:
        await target.plane.client.create_raw("pods", body, NAMESPACE)
    except ApiError as err:
        assert "more characters)" in err.message and len(err.message) < 4096
    else:
        raise AssertionError("the huge apiVersion was accepted")


@pytest.mark.parametrize("resource", ["selfsubjectaccessreviews", "selfsubjectreviews", "pods/eviction"])
async def test_deep_bodies_to_the_special_creates_are_400(target: Target, resource: str) -> None:
    """Reviews and Evictions decode their own bodies; a deep review was a RecursionError (500). (TokenRequests
    answer 503 here: this apiserver has no signing key.)"""
    deep = b"[" * 100_000 + b"]" * 100_000
    code, reason, _ = await target.grpc("Create", api_pb2.CreateRequest(resource=resource, namespace=NAMESPACE,
                                                                        json=deep))
    assert 400 <= code < 500, (code, reason)


async def test_a_deep_patch_is_400(target: Target) -> None:
    """A merge patch was decoded without a depth check: a RecursionError, a 500."""
    status, reason, answer = await target.http("PATCH", target.path("Pod", NAMESPACE, "x"),
                                               b"[" * 100_000 + b"]" * 100_000, "application/merge-patch+json")
    assert (status, reason) == (400, "BadRequest"), answer
    await target.healthy()

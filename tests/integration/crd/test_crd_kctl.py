"""kctl (over gRPC) with custom resources: it learns the kinds from the server's CRDs.

Also: the kinds of stored CRDs are served again after an apiserver restart.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from kubelite.api.errors import NotFound
from tests.integration.controlplane import ControlPlane
from tests.integration.crd.greeting import CRD_NAME, GROUP, greeting, greeting_crd
from tests.integration.kubectl.test_kctl import Kctl
from tests.polling import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def kctl(control_plane: ControlPlane) -> Kctl:
    return Kctl(control_plane.server)


async def _established(plane: ControlPlane) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        crd = await plane.client.get_raw("customresourcedefinitions", CRD_NAME)
        conditions = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
        return crd if conditions.get("Established") == "True" else None
    return await eventually(check, "the CRD to be established", timeout=10)


async def test_kctl_apply_get_scale_delete_custom_resources(kctl: Kctl, control_plane: ControlPlane) -> None:
    assert await kctl.ok("apply", "-f", "-", stdin=yaml.safe_dump(greeting_crd())) == \
        f"customresourcedefinition.apiextensions.k8s.io/{CRD_NAME} created\n"
    crd = await _established(control_plane)
    assert crd["status"]["acceptedNames"]["kind"] == "Greeting"
    assert CRD_NAME in await kctl.ok("get", "crd")

    manifest = yaml.safe_dump(greeting("hi", "hello")) + "---\n" + yaml.safe_dump(greeting("yo", "hey", replicas=3))
    assert await kctl.ok("apply", "-f", "-", stdin=manifest) == \
        "greeting.demo.kubelite.io/hi created\ngreeting.demo.kubelite.io/yo created\n"
    assert await kctl.ok("apply", "-f", "-", stdin=manifest) == \
        "greeting.demo.kubelite.io/hi unchanged\ngreeting.demo.kubelite.io/yo unchanged\n"
    table = (await kctl.ok("get", "greetings")).splitlines()
    assert table[0].split() == ["NAME", "MESSAGE", "REPLICAS", "PHASE", "AGE"]
    assert [row.split()[:4] for row in table[1:]] == [["hi", "hello", "1", "<none>"], ["yo", "hey", "3", "<none>"]]
    obj = json.loads(await kctl.ok("get", f"greeting.{GROUP}", "hi", "-o", "json"))
    assert obj["spec"] == {"message": "hello", "replicas": 1, "style": "plain"}
    assert "yo" in await kctl.ok("get", "gr", "-l", "", "--field-selector", "metadata.name=yo")

    bad = await kctl("apply", "-f", "-", stdin=yaml.safe_dump(greeting("bad", "x", replicas=99)))
    assert bad.code == 1 and "spec.replicas" in bad.err and "Traceback" not in bad.err

    described = await kctl.ok("describe", "greeting", "hi")
    assert "hi" in described and "hello" in described
    assert any(line.split()[:2] == ["greetings", "gr"] for line in (await kctl.ok("api-resources")).splitlines())
    assert await kctl.ok("scale", "greeting", "hi", "--replicas=5") == "greeting.demo.kubelite.io/hi scaled\n"
    live = await control_plane.client.get_raw(f"greetings.{GROUP}", "hi", "default")
    assert live["spec"]["replicas"] == 5

    assert await kctl.ok("delete", "greeting", "yo") == 'greeting.demo.kubelite.io "yo" deleted\n'
    await kctl.ok("delete", "crd", CRD_NAME)

    async def gone() -> bool:
        try:
            await control_plane.client.get_raw("customresourcedefinitions", CRD_NAME)
        except NotFound:
            return True
        return False

    await eventually(gone, "the CRD to be deleted", timeout=10)
    missing = await kctl("get", "greetings")
    assert missing.code == 1 and "the server doesn't have a resource type" in missing.err


async def test_custom_kinds_are_served_after_an_apiserver_restart(control_plane: ControlPlane) -> None:
    client = control_plane.client
    await client.create_raw("customresourcedefinitions", greeting_crd())
    await _established(control_plane)
    await client.create_raw(f"greetings.{GROUP}", greeting("kept", "still here"), "default")
    await control_plane.restart_apiserver()
    # ready implies the stored CRDs were loaded: no polling needed
    assert (await client.get_raw(f"greetings.{GROUP}", "kept", "default"))["spec"]["message"] == "still here"


async def test_cluster_scoped_custom_kind_is_stored_without_a_namespace(control_plane: ControlPlane) -> None:
    client = control_plane.client
    await client.create_raw("customresourcedefinitions", greeting_crd(scope="Cluster"))
    await _established(control_plane)
    created = await client.create_raw(f"greetings.{GROUP}", greeting("global"))
    assert "namespace" not in created["metadata"]
    etcd = control_plane.apiserver.etcd
    listed = await etcd.range(f"/registry/{GROUP}/greetings/", f"/registry/{GROUP}/greetings0".encode())
    assert [kv.key for kv in listed.kvs] == [f"/registry/{GROUP}/greetings/global"]
    names = [o["metadata"]["name"] for o in (await client.list_raw(
        f"greetings.{GROUP}", field_selector="metadata.name=global"))["items"]]
    assert names == ["global"]

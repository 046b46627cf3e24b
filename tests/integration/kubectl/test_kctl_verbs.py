"""kctl's everyday verbs against a real kvstore + apiserver: label, annotate, patch, set, -o templates."""

from __future__ import annotations

import json

import pytest

from tests.integration.controlplane import ControlPlane
from tests.integration.kubectl.test_kctl import CONFIGMAP, Kctl, deployment

pytestmark = pytest.mark.integration


@pytest.fixture
def kctl(control_plane: ControlPlane) -> Kctl:
    return Kctl(control_plane.server)


async def test_label_adds_refuses_overwrite_and_removes(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    assert await kctl.ok("label", "configmap", "settings", "tier=web", "team=a") == "configmap/settings labeled\n"
    live = await control_plane.client.get_raw("configmaps", "settings", "default")
    assert live["metadata"]["labels"] == {"tier": "web", "team": "a"}
    refused = await kctl("label", "cm/settings", "tier=db")
    assert refused.code == 1
    assert "'tier' already has a value (web), and --overwrite is false" in refused.err
    assert await kctl.ok("label", "cm/settings", "tier=db", "--overwrite") == "configmap/settings labeled\n"
    assert await kctl.ok("label", "cm", "settings", "team-") == "configmap/settings unlabeled\n"
    live = await control_plane.client.get_raw("configmaps", "settings", "default")
    assert live["metadata"]["labels"] == {"tier": "db"}


async def test_label_by_selector_and_all(kctl: Kctl, control_plane: ControlPlane) -> None:
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        await kctl.ok("create", "configmap", name, "--from-literal", "k=v")
        await kctl.ok("label", "cm", name, f"app={app}")
    assert await kctl.ok("label", "cm", "-l", "app=x", "picked=yes") == \
        "configmap/a labeled\nconfigmap/b labeled\n"
    assert await kctl.ok("annotate", "cm", "--all", "note=hi") == \
        "configmap/a annotated\nconfigmap/b annotated\nconfigmap/c annotated\n"
    out = await kctl.ok("get", "cm", "-l", "picked=yes", "-o", "jsonpath={.items[*].metadata.name}")
    assert out == "a b"
    c = await control_plane.client.get_raw("configmaps", "c", "default")
    assert c["metadata"]["annotations"]["note"] == "hi" and "picked" not in c["metadata"]["labels"]


async def test_patch_strategic_merge_and_json(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=deployment("web", 2))
    patch = '{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"busybox:1.36"}]}}}}'
    assert await kctl.ok("patch", "deploy", "web", "-p", patch) == "deployment.apps/web patched\n"
    live = await control_plane.client.get_raw("deployments", "web", "default")
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox:1.36" and container["command"] == ["sh", "-c", "sleep 1000"]
    assert await kctl.ok("patch", "deploy/web", "--type", "merge", "-p", "spec: {replicas: 5}") == \
        "deployment.apps/web patched\n"
    ops = json.dumps([{"op": "replace", "path": "/spec/replicas", "value": 1}])
    await kctl.ok("patch", "deploy/web", "--type=json", "-p", ops)
    live = await control_plane.client.get_raw("deployments", "web", "default")
    assert live["spec"]["replicas"] == 1
    assert await kctl.ok("patch", "deploy/web", "--type=json", "-p", ops) == \
        "deployment.apps/web patched (no change)\n"
    bad = await kctl("patch", "deploy/web", "--type=json", "-p", '[{"op":"remove","path":"/spec/nope"}]')
    assert bad.code == 1 and "Traceback" not in bad.err


async def test_output_templates(kctl: Kctl) -> None:
    for name in ("b", "a"):
        await kctl.ok("create", "configmap", name, "--from-literal", f"key={name}1")
    out = await kctl.ok("get", "cm", "-o", 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.data.key}{"\\n"}{end}')
    assert out == "a\ta1\nb\tb1\n"
    out = await kctl.ok("get", "cm", "--sort-by=.data.key", "-o", "custom-columns=NAME:.metadata.name,KEY:.data.key")
    assert out.splitlines() == ["NAME   KEY", "a      a1", "b      b1"]
    out = await kctl.ok("get", "cm", "a", "-o", "jsonpath={.data.key}")
    assert out == "a1"
    await kctl.ok("label", "cm", "a", "tier=front")
    out = await kctl.ok("get", "cm", "-L", "tier")
    assert out.splitlines()[0].split() == ["NAME", "DATA", "AGE", "TIER"]
    assert out.splitlines()[1].split()[-1] == "front"

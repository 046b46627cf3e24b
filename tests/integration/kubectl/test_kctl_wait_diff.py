"""kctl wait, diff and apply --dry-run against a real kvstore + apiserver."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.controlplane import ControlPlane
from tests.integration.kubectl.test_kctl import CONFIGMAP, Kctl, deployment

pytestmark = pytest.mark.integration


@pytest.fixture
def kctl(control_plane: ControlPlane) -> Kctl:
    return Kctl(control_plane.server)


async def test_wait_for_jsonpath_returns_when_it_holds(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    waiting = asyncio.ensure_future(kctl("wait", "--for=jsonpath={.data.greeting}=bye", "cm/settings",
                                         "--timeout", "20s"))
    # The change is made with the client, not kctl: kctl's harness owns the process' stdout.
    live = await control_plane.client.get_raw("configmaps", "settings", "default")
    live["data"]["greeting"] = "bye"
    await control_plane.client.update_raw("configmaps", live, "default")
    result = await waiting
    assert result.code == 0, result.err
    assert result.out == "configmap/settings condition met\n"


async def test_wait_times_out_with_exit_1(kctl: Kctl) -> None:
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    result = await kctl("wait", "--for=condition=Ready", "configmap/settings", "--timeout=1s")
    assert result.code == 1
    assert "error: timed out waiting for the condition on configmaps/settings" in result.err
    missing = await kctl("wait", "--for=condition=Ready", "configmap/nope", "--timeout=1s")
    assert missing.code == 1 and "not found" in missing.err


async def test_wait_for_delete(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    waiting = asyncio.ensure_future(kctl("wait", "--for=delete", "cm/settings", "--timeout", "2m"))
    await control_plane.client.delete_raw("configmaps", "settings", "default")
    result = await waiting
    assert result.code == 0 and result.out == "configmap/settings deleted\n"


async def test_diff_exit_codes(kctl: Kctl) -> None:
    manifest = deployment("web", 2)
    new = await kctl("diff", "-f", "-", stdin=manifest)
    assert new.code == 1 and "+  name: web" in new.out and new.out.startswith("--- LIVE/apps.v1.Deployment")
    await kctl.ok("apply", "-f", "-", stdin=manifest)
    same = await kctl("diff", "-f", "-", stdin=manifest)
    assert same.code == 0 and same.out == "", same.out
    changed = await kctl("diff", "-f", "-", stdin=deployment("web", 3))
    assert changed.code == 1
    assert "-  replicas: 2\n" in changed.out and "+  replicas: 3\n" in changed.out


async def test_apply_dry_run_of_a_new_object_prints_it(kctl: Kctl, control_plane: ControlPlane) -> None:
    for mode in ("client", "server"):
        out = await kctl.ok("apply", "-f", "-", f"--dry-run={mode}", "-o", "yaml", stdin=CONFIGMAP)
        assert "name: settings" in out and "greeting: hello" in out
        out = await kctl.ok("apply", "-f", "-", f"--dry-run={mode}", "-o", "name", stdin=CONFIGMAP)
        assert out == "configmap/settings\n"
    listed = await control_plane.client.list_raw("configmaps", "default")
    assert [i["metadata"]["name"] for i in listed["items"] if i["metadata"]["name"] == "settings"] == []


async def test_apply_kustomization_then_prune(kctl: Kctl, control_plane: ControlPlane, tmp_path: Path) -> None:
    (tmp_path / "deploy.yaml").write_text(deployment("web", 1))
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [deploy.yaml]\nnamePrefix: dev-\ncommonLabels: {team: a}\n"
        "configMapGenerator:\n- name: cfg\n  literals: [MODE=prod]\n")
    out = await kctl.ok("apply", "-k", str(tmp_path))
    lines = out.splitlines()
    assert lines[0] == "deployment.apps/dev-web created"
    assert lines[1].startswith("configmap/dev-cfg-") and lines[1].endswith(" created")
    live = await control_plane.client.get_raw("deployments", "dev-web", "default")
    assert live["metadata"]["labels"]["team"] == "a"
    assert live["spec"]["selector"]["matchLabels"] == {"app": "web", "team": "a"}
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [deploy.yaml]\nnamePrefix: dev-\ncommonLabels: {team: a}\n")
    out = await kctl.ok("apply", "-k", str(tmp_path), "--prune", "-l", "team=a")
    assert out.splitlines()[0] == "deployment.apps/dev-web unchanged"
    assert out.splitlines()[1].startswith("configmap/dev-cfg-") and out.endswith(" pruned\n")
    listed = await control_plane.client.list_raw("configmaps", "default", label_selector="team=a")
    assert listed["items"] == []
    refused = await kctl("apply", "-k", str(tmp_path), "--prune")
    assert refused.code == 1 and "--all" in refused.err


async def test_timeouts_take_durations_and_force_delete_warns(kctl: Kctl) -> None:
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    result = await kctl("--request-timeout", "2m", "delete", "cm", "settings", "--force", "--grace-period=0",
                        "--timeout", "120s")
    assert result.code == 0, result.err
    assert "Warning: Immediate deletion does not wait for confirmation that the running resource has been " \
        "terminated. The resource may continue to run on the cluster indefinitely." in result.err
    bad = await kctl("wait", "--for=delete", "cm/x", "--timeout", "2 minutes")
    assert bad.code == 1 and "invalid duration" in bad.err

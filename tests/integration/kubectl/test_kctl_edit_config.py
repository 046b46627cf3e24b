"""kctl edit (with scripted editors), config contexts and explain against a real apiserver."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.controlplane import ControlPlane
from tests.integration.kubectl.test_kctl import CONFIGMAP, Kctl

pytestmark = pytest.mark.integration

# An editor that replaces text in the file: `editor.py OLD NEW FILE`; it also logs the file it saw.
EDITOR = """\
import sys, pathlib
old, new, path = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
log = pathlib.Path(sys.argv[0]).with_suffix(".seen")
text = path.read_text()
with log.open("a") as f:
    f.write(text + "\\n=====\\n")
if new not in text:  # a re-opened file keeps the earlier edit: saving it as it is
    path.write_text(text.replace(old, new))
"""


@pytest.fixture
def kctl(control_plane: ControlPlane) -> Kctl:
    return Kctl(control_plane.server)


def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str) -> Path:
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    monkeypatch.setenv("KUBE_EDITOR", f"{sys.executable} {script} '{old}' '{new}'")
    return script.with_suffix(".seen")


async def test_edit_saves_the_change(kctl: Kctl, control_plane: ControlPlane, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    editor(tmp_path, monkeypatch, "greeting: hello", "greeting: edited")
    assert await kctl.ok("edit", "cm/settings") == "configmap/settings edited\n"
    live = await control_plane.client.get_raw("configmaps", "settings", "default")
    assert live["data"]["greeting"] == "edited"


async def test_edit_without_change_is_cancelled(kctl: Kctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    editor(tmp_path, monkeypatch, "nothing-to-find", "x")
    result = await kctl("edit", "configmap", "settings")
    assert result.code == 0 and "Edit cancelled, no changes made." in result.err


async def test_bad_edit_reopens_with_the_error_then_gives_up(kctl: Kctl, control_plane: ControlPlane,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    seen = editor(tmp_path, monkeypatch, "name: settings", "name: settings\n  bogusField: 1")
    result = await kctl("edit", "cm/settings")
    assert result.code == 1 and "Edit cancelled, no valid changes were saved." in result.err
    opened = seen.read_text().split("\n=====\n")
    assert 'configmaps "settings" was not valid:' in opened[1]
    assert "bogusField" in opened[1]
    live = await control_plane.client.get_raw("configmaps", "settings", "default")
    assert "bogusField" not in live["metadata"]


async def test_config_contexts(kctl: Kctl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text(yaml.safe_dump({"current-context": "one", "contexts": {
        "one": {"server": "127.0.0.1:1"}, "two": {"server": kctl.server}}}))
    monkeypatch.setenv("KUBELITE_CONFIG", str(config))
    assert await kctl.ok("config", "current-context") == "one\n"
    out = await kctl.ok("config", "get-contexts")
    assert out.splitlines()[1].split() == ["*", "one", "127.0.0.1:1"]
    assert await kctl.ok("config", "use-context", "two") == 'Switched to context "two".\n'
    assert await kctl.ok("config", "set-context", "--current", "--namespace", "dev") == 'Context "two" modified.\n'
    saved = yaml.safe_load(config.read_text())
    assert saved["current-context"] == "two" and saved["contexts"]["two"]["namespace"] == "dev"
    missing = await kctl("config", "use-context", "nope")
    assert missing.code == 1 and 'no context exists with the name: "nope"' in missing.err


async def test_explain_and_api_versions(kctl: Kctl) -> None:
    out = await kctl.ok("explain", "deployment.spec.template.spec.containers")
    assert "FIELD: containers <[]Container>" in out and "  image\t<string>" in out
    bad = await kctl("explain", "deployment.spec.nope")
    assert bad.code == 1 and 'field "nope" does not exist' in bad.err
    versions = (await kctl.ok("api-versions")).splitlines()
    assert "apps/v1" in versions and "v1" in versions

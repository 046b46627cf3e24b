"""kctl against a real kvstore + apiserver: what a user types and what they see.

kctl's `main` runs in a worker thread (it owns its event loop, while the
in-process control plane runs on the test's loop), with stdout/stderr captured;
one test also runs it as a real subprocess.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from kubectl.main import main
from kubelite.api import now
from tests.integration.controlplane import ControlPlane

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def deployment(name: str, replicas: int = 2, image: str = "busybox:1.35") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: {image}
        command: ["sh", "-c", "sleep 1000"]
        resources:
          requests: {{cpu: 100m, memory: 32Mi}}
"""


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: hello\n"


@dataclass
class Result:
    code: int
    out: str
    err: str


class Kctl:
    def __init__(self, server: str) -> None:
        self.server = server

    def _run(self, args: tuple[str, ...], stdin: str | None) -> Result:
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
        err = io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), mock.patch("sys.stdin", io.StringIO(stdin or "")):
            code = main(["--server", self.server, *args])
        out.flush()
        return Result(code, raw.getvalue().decode(), err.getvalue())

    async def __call__(self, *args: str, stdin: str | None = None) -> Result:
        return await asyncio.to_thread(self._run, args, stdin)

    async def ok(self, *args: str, stdin: str | None = None) -> str:
        result = await self(*args, stdin=stdin)
        assert result.code == 0, f"kctl {' '.join(args)} failed: {result.err}"
        assert "Traceback" not in result.err
        return result.out


@pytest.fixture
def kctl(control_plane: ControlPlane) -> Kctl:
    return Kctl(control_plane.server)


async def test_apply_creates_then_unchanged_then_configured(kctl: Kctl, control_plane: ControlPlane) -> None:
    manifest = deployment("web", 2) + "---\n" + CONFIGMAP
    assert await kctl.ok("apply", "-f", "-", stdin=manifest) == \
        "deployment.apps/web created\nconfigmap/settings created\n"
    assert await kctl.ok("apply", "-f", "-", stdin=manifest) == \
        "deployment.apps/web unchanged\nconfigmap/settings unchanged\n"
    changed = deployment("web", 4) + "---\n" + CONFIGMAP
    assert await kctl.ok("apply", "-f", "-", stdin=changed) == \
        "deployment.apps/web configured\nconfigmap/settings unchanged\n"
    live = await control_plane.client.get_raw("deployments", "web", "default")
    assert live["spec"]["replicas"] == 4
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]


async def test_apply_removes_fields_dropped_from_the_manifest(kctl: Kctl, control_plane: ControlPlane) -> None:
    with_label = CONFIGMAP.replace("  name: settings\n", "  name: settings\n  labels: {a: b, c: d}\n")
    await kctl.ok("apply", "-f", "-", stdin=with_label)
    out = await kctl.ok("apply", "-f", "-", stdin=with_label.replace(", c: d", ""))
    assert out == "configmap/settings configured\n"
    live = await control_plane.client.get_raw("configmaps", "settings", "default")
    assert live["metadata"]["labels"] == {"a": "b"}


async def test_bad_multi_document_file_writes_nothing(kctl: Kctl, control_plane: ControlPlane,
                                                      tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(deployment("ok-one", 1) + "---\n" + deployment("bad-one", 1).replace("replicas: 1", "replicas: -1"))
    result = await kctl("apply", "-f", str(bad))
    assert result.code == 1
    assert "bad.yaml" in result.err and "document 2" in result.err and "spec.replicas" in result.err
    assert "Traceback" not in result.err
    missing = await kctl("get", "deployment", "ok-one")
    assert missing.code == 1
    assert missing.err.strip() == 'Error from server (NotFound): deployments.apps "ok-one" not found'


async def test_get_tables_and_json_list(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=deployment("web") + "---\n" + CONFIGMAP)
    table = (await kctl.ok("get", "deploy")).splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:2] == ["web", "0/2"]
    multi = await kctl.ok("get", "deploy,cm")
    assert "deployment.apps/web" in multi and "configmap/settings" in multi
    listed = json.loads(await kctl.ok("get", "configmaps", "-o", "json"))
    assert listed["kind"] == "List" and listed["apiVersion"] == "v1"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["settings"]
    single = json.loads(await kctl.ok("get", "deploy/web", "-o", "json"))
    assert single["kind"] == "Deployment" and single["spec"]["replicas"] == 2
    assert await kctl.ok("get", "cm", "-o", "name") == "configmap/settings\n"
    namespaces = await kctl.ok("get", "ns", "--no-headers")
    assert {line.split()[0] for line in namespaces.splitlines()} >= {"default", "kube-system"}
    labelled = await kctl.ok("get", "deploy", "-l", "app=web", "-A", "--show-labels")
    assert labelled.splitlines()[0].split()[0] == "NAMESPACE" and "app=web" in labelled
    empty = await kctl("get", "pods")
    assert empty.code == 0 and empty.err.strip() == "No resources found in default namespace."


async def test_get_missing_object_is_not_found(kctl: Kctl) -> None:
    result = await kctl("get", "pod", "nope")
    assert result.code == 1 and "NotFound" in result.err and '"nope"' in result.err


async def test_scale_changes_spec_replicas(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=deployment("web", 2))
    assert await kctl.ok("scale", "deploy/web", "--replicas=5") == "deployment.apps/web scaled\n"
    assert (await control_plane.client.get_raw("deployments", "web", "default"))["spec"]["replicas"] == 5
    assert await kctl.ok("scale", "deployment", "web", "--replicas", "1") == "deployment.apps/web scaled\n"
    assert (await control_plane.client.get_raw("deployments", "web", "default"))["spec"]["replicas"] == 1
    missing = await kctl("scale", "deploy/nope", "--replicas=1")
    assert missing.code == 1 and "NotFound" in missing.err


async def test_delete_by_name_file_and_selector(kctl: Kctl, control_plane: ControlPlane, tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(deployment("web") + "---\n" + CONFIGMAP)
    await kctl.ok("apply", "-f", str(path))
    assert await kctl.ok("delete", "deployment", "web") == 'deployment.apps "web" deleted\n'
    assert (await kctl("get", "deploy", "web")).code == 1
    again = await kctl("delete", "deploy/web")
    assert again.code == 1 and "NotFound" in again.err
    assert (await kctl("delete", "deploy/web", "--ignore-not-found")).code == 0
    assert await kctl.ok("delete", "-f", str(path), "--ignore-not-found") == 'configmap "settings" deleted\n'
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP.replace("  name: settings\n", "  name: a\n  labels: {x: y}\n"))
    assert await kctl.ok("delete", "cm", "-l", "x=y") == 'configmap "a" deleted\n'


async def test_describe_shows_fields_and_events(kctl: Kctl, control_plane: ControlPlane) -> None:
    await kctl.ok("apply", "-f", "-", stdin=deployment("web", 3))
    live = await control_plane.client.get_raw("deployments", "web", "default")
    event: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "default",
                           "uid": live["metadata"]["uid"], "apiVersion": "apps/v1"},
        "reason": "ScalingReplicaSet", "message": "Scaled up replica set web-abc to 3", "type": "Normal",
        "source": {"component": "deployment-controller"}, "firstTimestamp": now(), "lastTimestamp": now(),
        "count": 1,
    }
    await control_plane.client.create_raw("events", event, "default")
    other = {**event, "metadata": {"name": "other.1", "namespace": "default"},
             "involvedObject": {**event["involvedObject"], "name": "other"}, "message": "not about web"}
    await control_plane.client.create_raw("events", other, "default")
    text = await kctl.ok("describe", "deploy", "web")
    assert text.startswith("Name:")
    assert "Replicas:" in text and "3 desired" in text and "Selector:" in text and "app=web" in text
    assert "Pod Template:" in text and "busybox:1.35" in text
    events = text[text.index("Events:"):]
    assert "ScalingReplicaSet" in events and "Scaled up replica set web-abc to 3" in events
    assert "not about web" not in events
    await kctl.ok("apply", "-f", "-", stdin=CONFIGMAP)
    described = await kctl.ok("describe", "cm", "sett")  # a name prefix, like kubectl
    assert "Name:         settings" in described and "greeting:" in described and "Events:  <none>" in described
    missing = await kctl("describe", "deploy", "nope")
    assert missing.code == 1 and "NotFound" in missing.err


async def test_create_namespace_configmap_and_namespaced_get(kctl: Kctl, control_plane: ControlPlane) -> None:
    assert await kctl.ok("create", "namespace", "team") == "namespace/team created\n"
    out = await kctl.ok("create", "configmap", "cfg", "-n", "team", "--from-literal", "a=1", "--from-literal=b=2")
    assert out == "configmap/cfg created\n"
    assert (await control_plane.client.get_raw("configmaps", "cfg", "team"))["data"] == {"a": "1", "b": "2"}
    assert "cfg" in await kctl.ok("-n", "team", "get", "cm")
    exists = await kctl("create", "namespace", "team")
    assert exists.code == 1 and "AlreadyExists" in exists.err


async def test_real_subprocess_reads_stdin_and_reports_errors(control_plane: ControlPlane) -> None:
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubectl.main", "--server", control_plane.server, *args],
                              input=stdin, capture_output=True, text=True, timeout=60, cwd=ROOT)

    created = await asyncio.to_thread(run, "apply", "-f", "-", stdin=CONFIGMAP)
    assert created.returncode == 0 and created.stdout == "configmap/settings created\n"
    missing = await asyncio.to_thread(run, "get", "deploy", "nope")
    assert missing.returncode == 1 and "NotFound" in missing.stderr and "Traceback" not in missing.stderr


async def test_watch_prints_changes_and_exits_cleanly_on_ctrl_c(control_plane: ControlPlane) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubectl.main", "--server", control_plane.server, "get", "cm", "-w",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        await control_plane.client.create_raw("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                              "metadata": {"name": "first"}}, "default")
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if line.split()[0] == b"NAME":  # the initial list already had it, or was empty with a header
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.split()[0] == b"first"
        await control_plane.client.create_raw("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                              "metadata": {"name": "second"}}, "default")
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.split()[0] == b"second"
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 30)
        err = (await proc.stderr.read()).decode()
        assert code == 0 and "Traceback" not in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

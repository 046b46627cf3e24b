"""`kctl rollout ...` and `kctl cordon|uncordon|drain` against a real apiserver with
the real controller-manager (pods are marked Running/Ready by a stand-in kubelet)."""

from __future__ import annotations

import asyncio
import io
from contextlib import redirect_stderr, redirect_stdout
from typing import Any
from unittest import mock

import pytest

from controllers.deployment.templatehash import REVISION_ANNOTATION
from controllers.manager import ControllerManager
from kubectl.main import main
from kubelite.api import Deployment, Node, Pod
from kubelite.api.policy import PodDisruptionBudget
from tests.integration.controllers.helpers import count_is, deployment, fake_kubelet, pods_of, wait_for

pytestmark = pytest.mark.integration


def kctl(server: str, *args: str) -> tuple[int, str, str]:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    err = io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), mock.patch("sys.stdin", io.StringIO("")):
        code = main(["--server", server, *args])
    out.flush()
    return code, raw.getvalue().decode(), err.getvalue()


async def run(server: str, *args: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(kctl, server, *args)


async def images(client: Any, app: str) -> set[str]:
    return {p.spec.containers[0].image for p in await pods_of(client, app)}


async def test_rollout_status_history_undo_restart_pause(control_plane: Any, manager: ControllerManager) -> None:
    client, server = control_plane.client, control_plane.server
    await client.create(deployment("web", 2))
    async with fake_kubelet(client, "web"):
        code, out, err = await run(server, "rollout", "status", "deploy/web", "--timeout", "20")
        assert code == 0, err
        assert 'deployment "web" successfully rolled out' in out

        d = await client.get(Deployment, "web")
        d.spec.template.spec.containers[0].image = "busybox:v2"
        await client.update(d)
        code, out, err = await run(server, "rollout", "status", "deployment", "web", "--timeout", "20")
        assert code == 0, err
        assert await wait_for(lambda: _only(client, "web", "busybox:v2"), "pods on v2")

        code, out, _ = await run(server, "rollout", "history", "deploy/web")
        assert code == 0
        assert [line.split()[0] for line in out.splitlines()[2:]] == ["1", "2"]

        code, out, err = await run(server, "rollout", "undo", "deploy/web")
        assert code == 0, err
        assert "deployment.apps/web rolled back" in out
        assert await wait_for(lambda: _only(client, "web", "busybox:1.35"), "pods back on the first image")
        d = await client.get(Deployment, "web")
        assert d.metadata.annotations[REVISION_ANNOTATION] == "3"  # the old template is the newest revision

        code, _, err = await run(server, "rollout", "undo", "deploy/web", "--to-revision", "7")
        assert code != 0 and "revision 7" in err

        before = {p.metadata.name for p in await pods_of(client, "web")}
        code, out, err = await run(server, "rollout", "restart", "deploy/web")
        assert code == 0, err

        async def replaced() -> bool | None:
            now = await pods_of(client, "web")
            return True if len(now) == 2 and not ({p.metadata.name for p in now} & before) else None

        assert await wait_for(replaced, "every pod replaced by restart")

        code, out, _ = await run(server, "rollout", "pause", "deploy/web")
        assert code == 0 and "paused" in out
        assert (await client.get(Deployment, "web")).spec.paused is True
        code, _, err = await run(server, "rollout", "status", "deploy/web")
        assert code != 0 and "paused" in err
        code, out, _ = await run(server, "rollout", "resume", "deploy/web")
        assert code == 0 and "resumed" in out
        assert not (await client.get(Deployment, "web")).spec.paused


async def test_rollout_status_fails_when_progress_deadline_exceeded(
    control_plane: Any, manager: ControllerManager
) -> None:
    client, server = control_plane.client, control_plane.server
    d = deployment("stuck", 1)
    d.spec.progress_deadline_seconds = 1
    await client.create(d)  # no kubelet: the pod never becomes ready
    code, out, err = await run(server, "rollout", "status", "deploy/stuck", "--timeout", "30")
    assert code != 0
    assert 'deployment "stuck" exceeded its progress deadline' in err


async def _only(client: Any, app: str, image: str) -> bool | None:
    return True if await images(client, app) == {image} and await count_is(client, app, 2) else None


async def test_cordon_drain_uncordon(control_plane: Any, manager: ControllerManager) -> None:
    client, server = control_plane.client, control_plane.server
    await client.create(Node.from_dict({"metadata": {"name": "n1"}}))
    await client.create(deployment("app", 2))
    lone = Pod.from_dict({"metadata": {"name": "lone"}, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1"]}]}})
    await client.create(lone)
    pods = await wait_for(lambda: count_is(client, "app", 2), "two app pods")
    for pod in pods:
        await client.bind("default", pod.metadata.name, "n1", pod.metadata.uid or "")

    code, out, _ = await run(server, "cordon", "n1")
    assert code == 0 and "node/n1 cordoned" in out
    assert (await client.get(Node, "n1", "")).spec.unschedulable is True
    code, out, _ = await run(server, "cordon", "node/n1")
    assert code == 0 and "already cordoned" in out

    code, _, err = await run(server, "drain", "n1", "--grace-period", "0")
    assert code != 0
    assert "declare no controller" in err and "default/lone" in err
    assert len(await pods_of(client, "app")) == 2  # nothing deleted when the drain is refused

    code, out, err = await run(server, "drain", "n1", "--force", "--grace-period", "0", "--timeout", "20")
    assert code == 0, err
    assert "pod/lone evicted" in out and "node/n1 drained" in out
    remaining = [p for p in (await client.list(Pod, "default")).items if p.spec.node_name == "n1"]
    assert remaining == []

    code, out, _ = await run(server, "uncordon", "n1")
    assert code == 0 and "node/n1 uncordoned" in out
    assert not (await client.get(Node, "n1", "")).spec.unschedulable

    code, _, err = await run(server, "cordon", "nope")
    assert code != 0 and "not found" in err


async def test_drain_waits_for_the_disruption_budget(control_plane: Any, manager: ControllerManager) -> None:
    client, server = control_plane.client, control_plane.server
    await client.create(Node.from_dict({"metadata": {"name": "n2"}}))
    await client.create(deployment("guard", 2))
    pods = await wait_for(lambda: count_is(client, "guard", 2), "two guard pods")
    for pod in pods:
        await client.bind("default", pod.metadata.name, "n2", pod.metadata.uid or "")
    await client.create(PodDisruptionBudget.from_dict({"metadata": {"name": "guard-pdb"}, "spec": {
        "minAvailable": 2, "selector": {"matchLabels": {"app": "guard"}}}}))
    async with fake_kubelet(client, "guard"):
        async def computed() -> bool | None:
            pdb = await client.get(PodDisruptionBudget, "guard-pdb")
            return True if pdb.status.current_healthy == 2 else None

        await wait_for(computed, "the budget sees two healthy pods")
        code, out, err = await run(server, "drain", "n2", "--grace-period", "0", "--timeout", "6")
        assert code != 0
        assert "Cannot evict pod as it would violate the pod's disruption budget." in err
        assert "guard-pdb needs 2 healthy pods and has 2 currently" in err
        assert "will retry" in out, "drain asked again before giving up"
        assert len(await pods_of(client, "guard")) == 2 and all(
            p.metadata.deletion_timestamp is None for p in await pods_of(client, "guard"))

        def relax(pdb: PodDisruptionBudget) -> None:
            pdb.spec.min_available = 0

        await client.update_with_retry(PodDisruptionBudget, "guard-pdb", "default", relax)
        code, out, err = await run(server, "drain", "n2", "--grace-period", "0", "--timeout", "30")
        assert code == 0, err
        assert "node/n2 drained" in out

"""Pod workers act on what happens, not on a clock: exits, back-off deadlines and probe kills
restart containers at once, and a pod with nothing left to do is not synced every second.

Why these tests: a pod whose last sync left nothing to do is synced again only after
`sync_frequency` (1 min, Kubernetes' `--sync-frequency`); before, every pod was synced every
second, which also hid any path that only worked because of that poll. Here both periodic
syncs are far longer than every deadline in the test (`resync_seconds` 120 s, `sync_frequency`
1 h), so whatever happens within a few seconds happened because something woke the worker
(the runtime's exit listener, a back-off deadline, a probe).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from kubelet.agent import Kubelet
from kubelet.backoff import BackOff
from kubelet.pod_sync import PodWorker
from kubelite.api import Pod
from kubelite.client import ApiClient
from tests.integration.kubelet.harness import kubelet_on
from tests.integration.kubelet.test_kubelet import (
    NODE,
    NODE_IP,
    main_status,
    marked_processes,
    pod_manifest,
    wait_running,
)
from tests.polling import eventually

pytestmark = pytest.mark.integration

EXIT_RESTART_BOUND = 5.0
"""Seconds from a container's death to its next instance Running (first restart: no back-off).
The exit reaches the worker at once, so this is a pod start plus the machine's noise; the
periodic syncs of these kubelets come after 120 s at the earliest."""


def event_driven_kubelet(server: str, data_dir: Path,
                         resync_seconds: float = 120.0) -> AbstractAsyncContextManager[Kubelet]:
    def known_backoff(kubelet: Kubelet) -> None:
        kubelet.pods.ctx.backoff = BackOff(1.0, 2.0)

    return kubelet_on(server, data_dir, NODE, NODE_IP, before_start=known_backoff, leftovers=marked_processes,
                      resync_seconds=resync_seconds, sync_frequency=3600.0)


@pytest.fixture
async def kubelet(control_plane: Any, tmp_path: Path) -> AsyncIterator[Kubelet]:
    async with event_driven_kubelet(control_plane.server, tmp_path / "node") as k:
        yield k


def worker_of(kubelet: Kubelet, name: str) -> PodWorker:
    worker = kubelet.pods.find_worker("default", name)
    assert worker is not None, f"no worker for pod {name}"
    return worker


async def test_killed_container_restarts_at_once(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    await client.create(pod_manifest("web", "while true; do sleep 0.1; done"))
    _, pid = await wait_running(client, "web")
    await eventually(lambda: _true(worker_of(kubelet, "web").settled), "the running pod's worker to settle")

    loop = asyncio.get_running_loop()
    killed = loop.time()
    os.killpg(pid, signal.SIGKILL)
    pod, new_pid = await wait_running(client, "web", restarts=1)
    took = loop.time() - killed
    assert took < EXIT_RESTART_BOUND, f"restart took {took:.1f}s"
    assert new_pid != pid and main_status(pod).last_state.terminated.exit_code == 137


async def test_crash_loop_restarts_at_each_back_off_deadline(control_plane: Any, kubelet: Kubelet) -> None:
    """Back-off 1 s, then 2 s (the kubelet's BackOff(1, 2)): the third restart comes about 3 s
    after the first exit -- not before (the back-off holds), and not at a periodic sync."""
    client: ApiClient = control_plane.client
    loop = asyncio.get_running_loop()
    await client.create(pod_manifest("crash", "exit 1"))

    async def restarts(n: int) -> Pod | None:
        pod = await client.get(Pod, "crash")
        status = main_status(pod)
        return pod if status is not None and status.restart_count >= n else None

    await eventually(lambda: restarts(1), "the first restart (no back-off)")
    first = loop.time()
    pod = await eventually(lambda: restarts(3), "two restarts after their back-offs", timeout=20)
    took = loop.time() - first
    assert 1.0 <= took < 1.0 + 2.0 + EXIT_RESTART_BOUND, f"restarts 1 -> 3 took {took:.1f}s"
    assert main_status(pod).last_state.terminated.exit_code == 1

    async def backing_off() -> bool:
        status = main_status(await client.get(Pod, "crash"))
        return status.state.waiting is not None and status.state.waiting.reason == "CrashLoopBackOff"

    await eventually(backing_off, "CrashLoopBackOff between the restarts")


async def test_failing_liveness_probe_restarts_without_a_periodic_sync(
    control_plane: Any, kubelet: Kubelet
) -> None:
    client: ApiClient = control_plane.client
    manifest = pod_manifest("sick", "sleep 1000").to_dict()
    manifest["spec"]["containers"][0]["livenessProbe"] = {
        "exec": {"command": ["sh", "-c", "exit 1"]}, "periodSeconds": 1, "failureThreshold": 1}
    await client.create(Pod.from_dict(manifest))

    async def restarted_twice() -> bool:
        status = main_status(await client.get(Pod, "sick"))
        return status is not None and status.restart_count >= 2

    await eventually(restarted_twice, "two restarts by the liveness probe", timeout=20)


async def test_settled_pod_is_not_synced_while_a_pod_with_work_left_retries(
    control_plane: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a 0.2 s retry period: a pod waiting for a ConfigMap that does not exist (work left)
    is synced again and again; a running pod in the same window not once."""
    client: ApiClient = control_plane.client
    async with event_driven_kubelet(control_plane.server, tmp_path / "node", resync_seconds=0.2) as kubelet:
        await client.create(pod_manifest("idle", "sleep 1000"))
        await wait_running(client, "idle")
        idle = worker_of(kubelet, "idle")
        await eventually(lambda: _true(idle.settled), "the running pod's worker to settle")

        manifest = pod_manifest("waiting", "sleep 1000").to_dict()
        manifest["spec"]["containers"][0]["env"] = [
            {"name": "V", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "v"}}}]
        await client.create(Pod.from_dict(manifest))
        await eventually(lambda: _true(kubelet.pods.find_worker("default", "waiting") is not None),
                         "a worker for the waiting pod")
        waiting = worker_of(kubelet, "waiting")
        counts = {"idle": 0, "waiting": 0}
        count_syncs(monkeypatch, idle, counts, "idle")
        count_syncs(monkeypatch, waiting, counts, "waiting")

        await eventually(lambda: _true(counts["waiting"] >= 5), "five retries of the pod with work left")
        assert not waiting.settled
        assert counts["idle"] == 0 and idle.settled, counts


def count_syncs(monkeypatch: pytest.MonkeyPatch, worker: PodWorker, counts: dict[str, int], key: str) -> None:
    sync: Callable[[], Awaitable[None]] = worker.sync

    async def counted() -> None:
        counts[key] += 1
        await sync()

    monkeypatch.setattr(worker, "sync", counted)


async def _true(value: bool) -> bool:
    return value

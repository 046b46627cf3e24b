"""A real kubelet (process runtime, in-process) against a real kvstore + apiserver.

What a user would observe: a Ready node with a Lease; pods bound to it become
real host processes (containerID `process://<pid>`), are restarted when
killed, fail with the exit code, stop on graceful delete (and the pod object
goes away), and their logs come back through the Kubelet gRPC service and the
apiserver. Every wait polls with a deadline; every process is gone at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import grpc.aio
import pytest

from kubelet.agent import Kubelet
from kubelite.api import Lease, Node, Pod
from kubelite.api.errors import NotFound
from kubelite.client import ApiClient
from kubelite.pb.kubelite import api_pb2, api_pb2_grpc
from kubelite.procs import live_pids_with
from tests.integration.kubelet.harness import kubelet_on
from tests.polling import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")
NODE = "node-1"
NODE_IP = "127.0.0.11"
MARKER = f"kubelet-it-{uuid.uuid4().hex[:8]}"




def marked_processes() -> list[int]:
    return live_pids_with(MARKER)


def alive(pid: int) -> bool:
    return pid in marked_processes()


def running_kubelet(server: str, data_dir: Path) -> AbstractAsyncContextManager[Kubelet]:
    return kubelet_on(server, data_dir, NODE, NODE_IP, leftovers=marked_processes, resync_seconds=0.5)


@pytest.fixture
async def kubelet(control_plane: Any, tmp_path: Path) -> AsyncIterator[Kubelet]:
    async with running_kubelet(control_plane.server, tmp_path / "node") as k:
        yield k


def pod_manifest(name: str, script: str, restart_policy: str = "Always", grace: int = 5,
                 init: list[dict[str, Any]] | None = None) -> Pod:
    return Pod.from_dict({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": NODE, "restartPolicy": restart_policy, "terminationGracePeriodSeconds": grace,
            "initContainers": init or [],
            "containers": [{
                "name": "main", "image": "busybox:1.35",
                "command": ["sh", "-c", script, MARKER],
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            }],
        },
    })


def main_status(pod: Pod) -> Any:
    return next((s for s in pod.status.container_statuses if s.name == "main"), None)


def running_pid(pod: Pod) -> int | None:
    status = main_status(pod)
    if status is None or status.state.running is None or not status.container_id:
        return None
    scheme, _, pid = status.container_id.partition("://")
    assert scheme == "process"
    return int(pid)


async def wait_running(client: ApiClient, name: str, restarts: int = 0) -> tuple[Pod, int]:
    async def probe() -> tuple[Pod, int] | None:
        pod = await client.get(Pod, name)
        pid = running_pid(pod)
        ok = pod.status.phase == "Running" and pid and alive(pid) and main_status(pod).restart_count >= restarts
        return (pod, pid) if ok and pid else None

    return await eventually(probe, f"pod {name} running (restarts >= {restarts})")


async def read_logs(client: ApiClient, name: str, **kw: Any) -> str:
    return b"".join([chunk async for chunk in client.logs("default", name, **kw)]).decode()


async def test_node_registers_ready_with_lease(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    node = await client.get(Node, NODE, "")
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("True", "KubeletReady")
    assert {"MemoryPressure", "DiskPressure", "PIDPressure"} <= {c.type for c in node.status.conditions}
    assert node.metadata.labels["kubernetes.io/hostname"] == NODE
    assert node.metadata.annotations["kubelite.io/container-runtime"] == "process"
    assert node.internal_ip() == NODE_IP and node.kubelet_port() == kubelet.server.port
    assert int(node.status.capacity["cpu"]) >= 1 and node.status.allocatable["pods"] == "110"
    assert node.status.node_info is not None and node.status.node_info.container_runtime_version.startswith("process")
    async def lease_exists() -> Lease | None:
        try:
            return await client.get(Lease, NODE, "kube-node-lease")
        except NotFound:
            return None

    lease = await eventually(lease_exists, "the node's lease")
    assert lease.spec.holder_identity == NODE and lease.spec.lease_duration_seconds == 4  # the configured duration, renewed every second
    first = lease.spec.renew_time

    async def renewed() -> bool:
        return (await client.get(Lease, NODE, "kube-node-lease")).spec.renew_time != first

    await eventually(renewed, "the lease to be renewed")


async def test_pod_runs_restarts_logs_and_graceful_delete(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    script = "echo hello from $POD; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"
    await client.create(pod_manifest("web", script))
    pod, pid = await wait_running(client, "web")
    ready = {c.type: c.status for c in pod.status.conditions}
    assert ready["Ready"] == ready["ContainersReady"] == ready["Initialized"] == "True"
    assert pod.status.pod_ip == pod.status.host_ip == NODE_IP and pod.status.start_time

    async def logs_say_hello() -> str | None:
        text = await read_logs(client, "web")
        return text if "hello from web" in text else None

    await eventually(logs_say_hello, "pod logs through the apiserver")

    os.killpg(pid, signal.SIGKILL)
    pod, new_pid = await wait_running(client, "web", restarts=1)
    assert new_pid != pid and not alive(pid)
    last = main_status(pod).last_state.terminated
    assert last is not None and last.exit_code == 137
    assert "hello from web" in await read_logs(client, "web", previous=True)

    # Logs straight from the Kubelet gRPC service, with timestamps and a tail.
    async with grpc.aio.insecure_channel(f"{NODE_IP}:{kubelet.server.port}") as channel:
        stub = api_pb2_grpc.KubeletStub(channel)
        request = api_pb2.LogsRequest(namespace="default", name="web", tail_lines=1, timestamps=True)
        data = b"".join([c.data async for c in stub.Logs(request)]).decode()
    assert data.endswith("hello from web\n") and data[:4].isdigit() and data.count("\n") == 1

    # Follow ends when the container does: start following, then delete the pod.
    follow = asyncio.create_task(read_logs(client, "web", follow=True))
    await client.delete(Pod, "web")

    async def gone() -> bool:
        try:
            await client.get(Pod, "web")
        except NotFound:
            return True
        return False

    await eventually(gone, "the pod object to be removed after graceful termination")
    assert not alive(new_pid)
    followed = await asyncio.wait_for(follow, 10)
    assert "hello from web" in followed and "bye" in followed  # SIGTERM first, handled by the trap


async def test_restart_never_failure_reports_exit_code(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    await client.create(pod_manifest("fail", "echo failing; exit 3", restart_policy="Never"))

    async def failed() -> Pod | None:
        pod = await client.get(Pod, "fail")
        return pod if pod.status.phase == "Failed" else None

    pod = await eventually(failed, "pod phase Failed")
    term = main_status(pod).state.terminated
    assert term is not None and (term.exit_code, term.reason) == (3, "Error")
    assert main_status(pod).restart_count == 0
    assert "failing" in await read_logs(client, "fail")


async def test_init_container_runs_to_completion_first(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    init = [{"name": "setup", "image": "busybox", "command": ["sh", "-c", f"echo prepared > ready.txt # {MARKER}"]}]
    await client.create(pod_manifest("withinit", "cat ready.txt; sleep 30", init=init))
    pod, _ = await wait_running(client, "withinit")
    init_status = pod.status.init_container_statuses[0]
    assert init_status.state.terminated is not None and init_status.state.terminated.reason == "Completed"

    async def main_read_the_file() -> bool:
        return "prepared" in await read_logs(client, "withinit", container="main")

    await eventually(main_read_the_file, "main's log to show the init container's file")


async def test_crashing_container_backs_off(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    await client.create(pod_manifest("crash", "exit 1", restart_policy="OnFailure"))

    async def backing_off() -> Pod | None:
        pod = await client.get(Pod, "crash")
        status = main_status(pod)
        waiting = status.state.waiting if status else None
        return pod if waiting is not None and waiting.reason == "CrashLoopBackOff" else None

    pod = await eventually(backing_off, "CrashLoopBackOff")
    status = main_status(pod)
    assert status.restart_count == 1 and status.last_state.terminated.exit_code == 1
    assert pod.status.phase == "Running"


async def test_pod_removed_from_api_is_stopped(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    await client.create(pod_manifest("forced", "sleep 30"))
    _, pid = await wait_running(client, "forced")
    await client.delete(Pod, "forced", grace_period_seconds=0)
    await eventually(lambda: asyncio.sleep(0, not alive(pid)), "the force-deleted pod's process to stop")


async def test_a_repeated_delete_shortens_the_grace_period(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    await client.create(pod_manifest("stubborn", "trap '' TERM; sleep 300", grace=60))
    _, pid = await wait_running(client, "stubborn")
    await client.delete(Pod, "stubborn")  # its own 60 s: SIGTERM, which it ignores

    async def terminating() -> bool:
        return (await client.get(Pod, "stubborn")).metadata.deletion_grace_period_seconds == 60

    await eventually(terminating, "the pod terminating with its 60 s grace period")
    assert alive(pid)
    t0 = time.monotonic()
    await client.delete(Pod, "stubborn", grace_period_seconds=1)  # shortened, not forced: still graceful
    await eventually(lambda: asyncio.sleep(0, not alive(pid)), "SIGKILL once the shortened grace ran out",
                     timeout=20)
    assert time.monotonic() - t0 >= 0.95  # the new grace period is honoured, not skipped

    async def deleted() -> bool:
        try:
            await client.get(Pod, "stubborn")
        except NotFound:
            return True
        return False

    await eventually(deleted, "the pod deleted once its containers stopped")


async def test_restarted_kubelet_resumes_pods_and_drops_orphans(control_plane: Any, tmp_path: Path) -> None:
    client: ApiClient = control_plane.client
    data_dir = tmp_path / "node"
    orphan = data_dir / "pods" / "default_old_0000-gone"
    async with running_kubelet(control_plane.server, data_dir):
        await client.create(pod_manifest("durable", "echo up; sleep 30"))
        _, first_pid = await wait_running(client, "durable")
    assert not alive(first_pid)  # a kubelet stop takes its containers with it
    orphan.mkdir(parents=True)
    async with running_kubelet(control_plane.server, data_dir):
        pod, pid = await wait_running(client, "durable", restarts=1)
        assert pid != first_pid and main_status(pod).last_state.terminated is not None
        await eventually(lambda: asyncio.sleep(0, not orphan.exists()), "the orphaned pod directory to be removed")
        assert "up" in await read_logs(client, "durable", previous=True)


async def test_container_without_command_waits_with_a_clear_reason(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    pod = pod_manifest("nocmd", "unused")
    pod.spec.containers[0].command = []
    await client.create(pod)

    async def waiting() -> Any:
        status = main_status(await client.get(Pod, "nocmd"))
        w = status.state.waiting if status else None
        return w if w is not None and w.reason == "CreateContainerError" else None

    reason = await eventually(waiting, "waiting reason CreateContainerError")
    assert "no command" in (reason.message or "")
    assert (await client.get(Pod, "nocmd")).status.phase == "Pending"

"""A real kubelet on the runc runtime against a real kvstore + apiserver (root only):
a pod runs as an isolated container with its logs, exec and restarts; a second kubelet
re-adopts it without restarting it; deleting the pod leaves nothing behind."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import pytest

from kubelet.agent import Kubelet, KubeletConfig
from kubelet.runc import RuncRuntime
from kubelite.api import Pod
from kubelite.api.errors import NotFound
from kubelite.client import ApiClient
from tests.integration.kubelet.runc.conftest import REASON, Env
from tests.polling import eventually

pytestmark = [pytest.mark.integration,
              pytest.mark.requires_root("runc containers, overlay mounts, cgroups"),
              pytest.mark.skipif(REASON is not None, reason=f"runc runtime unavailable: {REASON}")]

T = TypeVar("T")
NODE = "runc-node"
NODE_IP = "127.0.0.13"




async def start_kubelet(server: str, env: Env) -> tuple[Kubelet, ApiClient]:
    client = ApiClient.connect(server)
    runtime = RuncRuntime(env.state, env.resolve, cgroup_parent=env.cgroup_parent, poll_interval=0.05)
    env.runtimes.append(runtime)  # Kubelet.start starts it (re-adopting what is there)
    kubelet = Kubelet(client, runtime, KubeletConfig(
        node_name=NODE, node_ip=NODE_IP, listen=f"{NODE_IP}:0", data_dir=env.base / "node",
        resync_seconds=0.5, node_status_seconds=1.0, lease_duration_seconds=4,
    ))
    await kubelet.start()
    await asyncio.wait_for(kubelet.wait_ready(), 20)
    return kubelet, client


def pod(name: str, script: str) -> Pod:
    return Pod.from_dict({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "main", "image": "busybox", "command": ["sh", "-c", script],
            "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
        }]},
    })


def container_id(p: Pod) -> str | None:
    statuses = p.status.container_statuses
    if p.status.phase != "Running" or not statuses or statuses[0].state.running is None:
        return None
    return statuses[0].container_id or None


async def test_pod_runs_isolated_survives_a_kubelet_restart_and_is_cleaned_up(control_plane: Any, env: Env) -> None:
    kubelet, client = await start_kubelet(control_plane.server, env)
    try:
        await client.create(pod("iso", "echo hello from $(hostname) pid $$$$; exec sleep 300"))

        async def running() -> str | None:
            return container_id(await client.get(Pod, "iso"))

        cid = await eventually(running, "pod iso running")
        assert cid.startswith("runc://")
        logs = await eventually(lambda: _logs(client, "iso"), "container log")
        assert "hello from iso pid 1" in logs
        await kubelet.stop()  # runc containers keep running for the next kubelet
        await client.close()

        kubelet, client = await start_kubelet(control_plane.server, env)
        again = await eventually(running, "pod iso re-adopted")
        p = await client.get(Pod, "iso")
        assert again == cid and p.status.container_statuses[0].restart_count == 0

        await client.delete(Pod, "iso")

        async def gone() -> bool:
            try:
                await client.get(Pod, "iso")
                return False
            except NotFound:
                return True

        await eventually(gone, "pod iso deleted")
        await eventually(lambda: _empty(kubelet), "runtime empty")
    finally:
        await kubelet.stop()
        await client.close()


async def _logs(client: ApiClient, name: str) -> str | None:
    text = b"".join([c async for c in client.logs("default", name)]).decode()
    return text or None


async def _empty(kubelet: Kubelet) -> bool:
    return not await kubelet.runtime.list_pod_sandboxes() and not await kubelet.runtime.list_containers()

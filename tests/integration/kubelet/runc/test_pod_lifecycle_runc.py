"""Pod lifecycle on the runc runtime, through a real kubelet and apiserver.

What a user observes in a real container: its hostname is the pod name; a
configMap volume is mounted and follows updates of the ConfigMap (seen through
`exec`); env comes from the ConfigMap; exec probes pass; `exec` returns the
command's output and exit code; a kubelet restart re-adopts the running
container instead of restarting it. Skipped without root/runc/conmon/busybox
(see conftest.py), which also checks no mount, runc container or cgroup is left.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kubelet.agent import Kubelet
from kubelet.runtime import Runtime
from kubelite.api import ConfigMap, Pod
from kubelite.api.errors import NotFound
from kubelite.client import ApiClient
from tests.integration.kubelet.harness import kubelet_on
from tests.polling import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")
NODE = f"node-runc-{uuid.uuid4().hex[:6]}"
NODE_IP = "127.0.0.13"




def running_kubelet(server: str, data_dir: Path, runtime: Runtime) -> AbstractAsyncContextManager[Kubelet]:
    return kubelet_on(server, data_dir, NODE, NODE_IP, runtime=runtime, resync_seconds=0.3)


async def run(client: ApiClient, name: str, command: list[str]) -> tuple[int, str]:
    out: list[bytes] = []
    code = await client.exec("default", name, command, on_output=lambda _fd, data: out.append(data))
    return code, b"".join(out).decode()


async def test_volumes_env_probes_exec_and_readoption(control_plane: Any, env: Any, tmp_path: Path) -> None:
    client: ApiClient = control_plane.client
    await client.create(ConfigMap.from_dict({"metadata": {"name": "web-conf"}, "data": {"greeting": "hello"}}))
    pod = Pod.from_dict({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                 "volumes": [{"name": "conf", "configMap": {"name": "web-conf"}}],
                 "containers": [{
                     "name": "main", "image": "busybox",
                     "command": ["sh", "-c", 'echo "env=$GREETING host=$(hostname)"; exec sleep 1000'],
                     "env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "web-conf",
                                                                                    "key": "greeting"}}}],
                     "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf", "readOnly": True}],
                     "livenessProbe": {"exec": {"command": ["cat", "/etc/conf/greeting"]}, "periodSeconds": 1},
                     "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1},
                 }]},
    })
    data_dir = tmp_path / "node"
    async with running_kubelet(control_plane.server, data_dir, await env.runtime()):
        await client.create(pod)

        async def ready() -> Pod | None:
            p = await client.get(Pod, "web")
            ok = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)
            return p if ok else None

        first = await eventually(ready, "the pod Ready")
        logs = b"".join([c async for c in client.logs("default", "web")]).decode()
        assert "env=hello host=web" in logs
        assert await run(client, "web", ["cat", "/etc/conf/greeting"]) == (0, "hello")
        assert (await run(client, "web", ["sh", "-c", "exit 4"]))[0] == 4
        cm = await client.get(ConfigMap, "web-conf")
        cm.data["greeting"] = "bonjour"
        await client.update(cm)

        async def updated_inside() -> bool:
            return await run(client, "web", ["cat", "/etc/conf/greeting"]) == (0, "bonjour")

        await eventually(updated_inside, "the mounted configMap to follow the update")

    # The kubelet stopped; the runc container kept running and is adopted, not restarted.
    async with running_kubelet(control_plane.server, data_dir, await env.runtime()):

        async def adopted() -> Pod | None:
            p = await client.get(Pod, "web")
            s = p.status.container_statuses[0]
            return p if s.state.running is not None and s.container_id else None

        again = await eventually(adopted, "the pod running after the kubelet restart")
        s0, s1 = first.status.container_statuses[0], again.status.container_statuses[0]
        assert (s1.restart_count, s1.container_id) == (0, s0.container_id)
        assert await run(client, "web", ["cat", "/etc/conf/greeting"]) == (0, "bonjour")
        await client.delete(Pod, "web")

        async def gone() -> bool:
            try:
                await client.get(Pod, "web")
            except NotFound:
                return True
            return False

        await eventually(gone, "the pod deleted")

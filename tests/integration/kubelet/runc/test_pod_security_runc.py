"""Pod security through a real kubelet, apiserver and runc (root only).

What a user sees: a runAsNonRoot pod whose image runs as root waits in
CreateContainerConfigError with Kubernetes' message; runAsUser/fsGroup make
the process run as that user and own its emptyDir through the group; a
namespace labelled `pod-security.kubernetes.io/enforce: restricted` refuses a
pod that does not meet the restricted standard, with Kubernetes' message.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import Namespace, Pod
from kubelite.api.errors import Forbidden
from kubelite.client import ApiClient
from tests.integration.kubelet.runc.test_pod_lifecycle_runc import NODE, run, running_kubelet
from tests.polling import eventually

pytestmark = pytest.mark.integration


def pod(name: str, spec: dict[str, Any], namespace: str = "default") -> Pod:
    return Pod.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                          "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 0, **spec}})


async def test_run_as_non_root_users_fs_group_and_admission(control_plane: Any, env: Any, tmp_path: Any) -> None:
    client: ApiClient = control_plane.client
    async with running_kubelet(control_plane.server, tmp_path / "node", await env.runtime()):
        created = await client.create(pod("nonroot", {
            "securityContext": {"runAsNonRoot": True},
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "1000"]}]}))

        async def refused() -> Any:
            p = await client.get(Pod, "nonroot")
            s = p.status.container_statuses
            waiting = s[0].state.waiting if s else None
            return waiting if waiting is not None and waiting.reason == "CreateContainerConfigError" else None

        waiting = await eventually(refused, "the runAsNonRoot container to wait in CreateContainerConfigError")
        assert waiting.message == (f'container has runAsNonRoot and image will run as root '
                                   f'(pod: "nonroot_default({created.metadata.uid})", container: main)')

        await client.create(pod("user", {
            "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2500, "runAsNonRoot": True},
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "1000"],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            "securityContext": {"allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"]}}}]}))

        async def running() -> bool:
            p = await client.get(Pod, "user")
            s = p.status.container_statuses
            return bool(s and s[0].state.running is not None)

        await eventually(running, "the runAsUser pod running")
        assert await run(client, "user", ["id", "-u"]) == (0, "1000\n")
        code, out = await run(client, "user", ["sh", "-c", "id -G; touch /data/f && stat -c %g /data/f"])
        assert code == 0 and out.split() == ["1000", "2000", "2500", "2500"], out  # 2000: the image's /etc/group
        for name in ("nonroot", "user"):
            await client.delete(Pod, name, grace_period_seconds=0)

    await client.create(Namespace.from_dict({"metadata": {"name": "locked", "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}}))
    with pytest.raises(Forbidden) as err:
        await client.create(pod("loose", {"containers": [{"name": "c", "image": "busybox"}]}, namespace="locked"))
    assert err.value.message.startswith(
        'pods "loose" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "c" must set securityContext.allowPrivilegeEscalation=false)')
    ok = await client.create(pod("tight", {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "image": "busybox", "securityContext": {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}, namespace="locked"))
    assert ok.metadata.uid
    await client.delete(Pod, "tight", namespace="locked", grace_period_seconds=0)

"""A pod on a real kubelet (runc) sees its ServiceAccount token, CA and namespace under
/var/run/secrets/kubernetes.io/serviceaccount, read-only; the token is bound to the pod
and validates against the apiserver's validator until the pod is deleted."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from apiserver.serviceaccount.config import ServiceAccountConfig
from kubelite.api import ConfigMap, ObjectMeta, Pod, ServiceAccount
from kubelite.api.errors import BadRequest, NotFound
from tests.integration.controlplane import running_control_plane
from tests.integration.kubelet.runc.conftest import REASON, Env
from tests.integration.kubelet.runc.test_kubelet_runc import NODE, _logs, start_kubelet
from tests.polling import eventually

pytestmark = [pytest.mark.integration,
              pytest.mark.requires_root("runc containers, overlay mounts, cgroups"),
              pytest.mark.skipif(REASON is not None, reason=f"runc runtime unavailable: {REASON}")]

DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SCRIPT = (f"echo token=$(cat {DIR}/token); echo namespace=$(cat {DIR}/namespace); echo ca=$(cat {DIR}/ca.crt); "
          f"touch {DIR}/x 2>/dev/null || echo read-only; exec sleep 300")


async def test_pod_sees_its_bound_token(tmp_path: Path, env: Env) -> None:
    cfg = ServiceAccountConfig(signing_key=ec.generate_private_key(ec.SECP256R1()))
    async with running_control_plane(tmp_path / "cp", service_accounts=cfg,  # type: ignore[arg-type]
                                     service_account_admission=True) as plane:
        client = plane.client
        validator = plane.apiserver.service.service_accounts.validator
        assert validator is not None
        await client.create(ServiceAccount(metadata=ObjectMeta(name="default", namespace="default")))
        await client.create(ConfigMap(metadata=ObjectMeta(name="kube-root-ca.crt", namespace="default"),
                                      data={"ca.crt": "CA-PEM"}))
        kubelet, kclient = await start_kubelet(plane.server, env)
        try:
            await client.create(Pod.from_dict({
                "metadata": {"name": "sa", "namespace": "default"},
                "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [{
                    "name": "main", "image": "busybox", "command": ["sh", "-c", SCRIPT]}]}}))

            async def printed() -> str | None:
                try:
                    text = await _logs(client, "sa")
                except BadRequest:  # the kubelet has not started the container yet
                    return None
                return text if text and "read-only" in text else None

            logs = await eventually(printed, "the pod printed its service account files")
            lines = dict(line.split("=", 1) for line in logs.splitlines() if "=" in line)
            assert lines["namespace"] == "default" and lines["ca"] == "CA-PEM"
            user = await validator.validate(lines["token"])
            assert user is not None and user.name == "system:serviceaccount:default:default"
            live = await client.get(Pod, "sa")
            assert user.extra["authentication.kubernetes.io/pod-uid"] == [live.metadata.uid]

            await client.delete(Pod, "sa")

            async def gone() -> bool:
                try:
                    await client.get(Pod, "sa")
                    return False
                except NotFound:
                    return True

            await eventually(gone, "pod deleted")
            assert await validator.validate(lines["token"]) is None, "the token died with its pod"
        finally:
            await kubelet.stop()
            await kclient.close()

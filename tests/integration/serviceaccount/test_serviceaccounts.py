"""ServiceAccounts against a real kvstore + apiserver (+ the controller): admission, TokenRequest
through `kctl create token`, validation by the apiserver's validator, the default/kubernetes Service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from apiserver.serviceaccount.config import ServiceAccountConfig
from apiserver.serviceaccount.tokens import TokenValidator
from controllers.manager import ControllerManager
from kubelite.api import Endpoints, Namespace, Pod, Service, ServiceAccount
from kubelite.api.errors import Forbidden
from tests.integration.controlplane import ControlPlane, running_control_plane
from tests.integration.kubectl.test_kctl import Kctl
from tests.polling import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    cfg = ServiceAccountConfig(signing_key=ec.generate_private_key(ec.SECP256R1()), audiences=["api", "vault"])
    async with running_control_plane(tmp_path, service_accounts=cfg, service_account_admission=True,  # type: ignore[arg-type]
                                      advertise_address="127.0.0.1") as p:
        yield p


def validator(plane: ControlPlane) -> TokenValidator:
    v = plane.apiserver.service.service_accounts.validator
    assert v is not None
    return v


def pod(name: str, sa: str = "") -> Pod:
    return Pod.from_dict({"metadata": {"name": name},
                          "spec": {"serviceAccountName": sa, "containers": [{"name": "c", "image": "busybox"}]}})


async def test_controller_admission_and_tokens(plane: ControlPlane) -> None:
    client = plane.client
    with pytest.raises(Forbidden, match='error looking up service account default/default: serviceaccount '
                                        '"default" not found'):
        await client.create(pod("early"))
    manager = ControllerManager(client, ["serviceaccount"])
    await manager.start()
    try:
        async def default_sa() -> ServiceAccount | None:
            accounts = await client.list(ServiceAccount, "kube-public")
            return accounts.items[0] if accounts.items else None

        await eventually(default_sa, "default service account in kube-public")
        await eventually(lambda: _get_sa(plane, "default"), "default service account in default")
        created = await client.create(pod("web"))
        assert created.spec.service_account_name == "default"
        (vol,) = created.spec.volumes
        assert vol.name.startswith("kube-api-access-")
        assert created.spec.containers[0].volume_mounts[0].mount_path == "/var/run/secrets/kubernetes.io/serviceaccount"

        kctl = Kctl(plane.server)
        token = (await kctl.ok("create", "token", "default", "--duration", "15m", "--audience", "vault",
                               "--bound-object-kind", "Pod", "--bound-object-name", "web")).strip()
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["aud"] == ["vault"] and claims["exp"] - claims["iat"] == 900
        assert claims["kubernetes.io"]["pod"] == {"name": "web", "uid": created.metadata.uid}
        user = await validator(plane).validate(token)
        assert user is not None and user.name == "system:serviceaccount:default:default"
        assert "system:serviceaccounts:default" in user.groups

        answer = json.loads(await kctl.ok("create", "token", "default", "-o", "json"))
        assert answer["kind"] == "TokenRequest" and answer["status"]["expirationTimestamp"]
        assert await validator(plane).validate(answer["status"]["token"]) is not None

        failed = await kctl("create", "token", "default", "--duration", "5m")
        assert failed.code != 0 and "less than 10 minutes" in failed.err
        failed = await kctl("create", "token", "ghost")
        assert failed.code != 0 and 'serviceaccounts "ghost" not found' in failed.err

        await client.delete(Pod, "web")
        assert await validator(plane).validate(token) is None, "the pod is gone: its token is dead"
        assert await validator(plane).validate(answer["status"]["token"]) is not None, "unbound token lives on"

        await client.delete(ServiceAccount, "default", "default")
        await eventually(lambda: _recreated(plane, user.uid), "default service account recreated")
        assert await validator(plane).validate(answer["status"]["token"]) is None, "new SA uid: old token dead"

        with pytest.raises(Forbidden, match="ghost"):
            await client.create(pod("lost", sa="ghost"))
    finally:
        await manager.stop()


async def _get_sa(plane: ControlPlane, ns: str) -> ServiceAccount | None:
    accounts = await plane.client.list(ServiceAccount, ns)
    return accounts.items[0] if accounts.items else None


async def _recreated(plane: ControlPlane, old_uid: str) -> bool:
    sa = await _get_sa(plane, "default")
    return sa is not None and sa.metadata.uid != old_uid


async def test_kubernetes_service_and_system_namespaces(plane: ControlPlane) -> None:
    client = plane.client

    async def endpoints() -> Endpoints | None:
        try:
            return await client.get(Endpoints, "kubernetes")
        except Exception:
            return None

    ep = await eventually(endpoints, "kubernetes endpoints")
    svc = await client.get(Service, "kubernetes")
    assert svc.spec.cluster_ip == "10.96.0.1" and not svc.spec.selector
    (port,) = svc.spec.ports
    assert (port.name, port.port, port.target_port) == ("https", 443, plane.apiserver.port)
    (subset,) = ep.subsets
    assert [a.ip for a in subset.addresses] == ["127.0.0.1"]
    assert subset.ports[0].port == plane.apiserver.port
    names = {ns.metadata.name for ns in (await client.list(Namespace)).items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names

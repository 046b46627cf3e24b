"""ServiceAccount admission of pods and the TokenRequest subresource, over a fake object lookup."""

from __future__ import annotations

import json
from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from apiserver.service import ResourceService
from apiserver.serviceaccount.admission import MOUNT_PATH, ServiceAccounts
from apiserver.serviceaccount.config import ServiceAccountConfig
from kubelite.api import Pod
from kubelite.api.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound, ServiceUnavailable


class FakeAccounts(ServiceAccounts):
    def __init__(self, config: ServiceAccountConfig | None = None, admission: bool = True) -> None:
        super().__init__(cast(ResourceService, None), config, admission=admission)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}

    def put(self, resource: str, ns: str, name: str, **fields: Any) -> None:
        meta = {"name": name, "namespace": ns, "uid": f"{name}-uid"}
        self.objects[(resource, ns, name)] = {"metadata": meta, **fields}

    async def get_object(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((resource, namespace, name))


def pod(**spec: Any) -> Pod:
    return Pod.from_dict({"metadata": {"name": "p", "namespace": "team"},
                          "spec": {"containers": [{"name": "c", "image": "x"}],
                                   "initContainers": [{"name": "i", "image": "x"}], **spec}})


async def test_default_service_account_and_token_volume() -> None:
    sa = FakeAccounts()
    sa.put("serviceaccounts", "team", "default", imagePullSecrets=[{"name": "regcred"}])
    p = pod()
    assert await sa.admit_pod(p)
    assert p.spec.service_account_name == "default"
    assert [r.name for r in p.spec.image_pull_secrets] == ["regcred"]
    (vol,) = p.spec.volumes
    assert vol.name.startswith("kube-api-access-") and len(vol.name) == len("kube-api-access-") + 5
    sources = (vol.projected or {})["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"
    for c in p.spec.all_containers():
        (m,) = c.volume_mounts
        assert (m.name, m.mount_path, m.read_only) == (vol.name, MOUNT_PATH, True)


async def test_missing_service_account_is_forbidden() -> None:
    sa = FakeAccounts()
    with pytest.raises(Forbidden) as err:
        await sa.admit_pod(pod(serviceAccountName="ghost"))
    assert err.value.message == ('pods "p" is forbidden: error looking up service account team/ghost: '
                                 'serviceaccount "ghost" not found')
    with pytest.raises(Forbidden, match="team/default"):
        await sa.admit_pod(pod())


async def test_the_default_service_account_is_awaited_while_its_controller_creates_it() -> None:
    """A namespace and its pods applied together: the first pod may come before the controller
    made `default`; it is looked up again (as Kubernetes does) instead of refused."""
    sa = FakeAccounts()
    waits: list[float] = []
    appears = [True]  # the controller creates `default` once, during the third wait

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3 and appears:
            appears.clear()
            sa.put("serviceaccounts", "team", "default")

    sa.sleep = fake_sleep
    assert await sa.admit_pod(pod())
    assert len(waits) == 3 and all(0.1 <= w <= 0.2 for w in waits)
    waits.clear()
    with pytest.raises(Forbidden, match="ghost"):
        await sa.admit_pod(pod(serviceAccountName="ghost"))
    assert waits == []  # any other ServiceAccount: looked up once
    sa.objects.clear()
    with pytest.raises(Forbidden, match='serviceaccount "default" not found'):
        await sa.admit_pod(pod())
    assert len(waits) == 9  # ten lookups, then refused


async def test_automount_opt_out_by_pod_or_service_account() -> None:
    sa = FakeAccounts()
    sa.put("serviceaccounts", "team", "default", automountServiceAccountToken=False)
    p = pod()
    await sa.admit_pod(p)
    assert not p.spec.volumes
    p = pod(automountServiceAccountToken=True)
    await sa.admit_pod(p)
    assert len(p.spec.volumes) == 1, "the pod's own setting wins"
    sa.put("serviceaccounts", "team", "default")
    p = pod(automountServiceAccountToken=False)
    await sa.admit_pod(p)
    assert not p.spec.volumes


async def test_admission_off_leaves_pods_alone() -> None:
    p = pod()
    assert not await FakeAccounts(admission=False).admit_pod(p)
    assert p.spec.service_account_name is None and not p.spec.volumes


def _config() -> ServiceAccountConfig:
    return ServiceAccountConfig(signing_key=ec.generate_private_key(ec.SECP256R1()), audiences=["api"])


async def test_token_request_bound_to_pod() -> None:
    sa = FakeAccounts(_config())
    sa.put("serviceaccounts", "team", "builder")
    sa.put("pods", "team", "web", spec={"serviceAccountName": "builder", "containers": []})
    body = {"metadata": {"name": "builder"},
            "spec": {"audiences": ["vault"], "expirationSeconds": 900,
                     "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}}}
    answer = json.loads(await sa.create_token("team", "", json.dumps(body).encode()))
    assert answer["kind"] == "TokenRequest" and answer["metadata"]["name"] == "builder"
    assert answer["spec"]["boundObjectRef"]["uid"] == "web-uid"
    assert answer["status"]["expirationTimestamp"].endswith("Z")
    claims = jwt.decode(answer["status"]["token"], options={"verify_signature": False})
    assert claims["aud"] == ["vault"] and claims["exp"] - claims["iat"] == 900
    assert claims["kubernetes.io"]["pod"] == {"name": "web", "uid": "web-uid"}


async def test_token_request_defaults_and_refusals() -> None:
    sa = FakeAccounts(_config())
    sa.put("serviceaccounts", "team", "builder")
    sa.put("pods", "team", "other", spec={"serviceAccountName": "default", "containers": []})
    answer = json.loads(await sa.create_token("team", "builder", b"{}"))
    claims = jwt.decode(answer["status"]["token"], options={"verify_signature": False})
    assert claims["aud"] == ["api"] and claims["exp"] - claims["iat"] == 3600
    assert "pod" not in claims["kubernetes.io"]
    with pytest.raises(NotFound, match='serviceaccounts "ghost" not found'):
        await sa.create_token("team", "ghost", b"{}")
    with pytest.raises(Invalid, match="less than 10 minutes"):
        await sa.create_token("team", "builder", b'{"spec": {"expirationSeconds": 599}}')
    with pytest.raises(NotFound):
        await sa.create_token("team", "builder", b'{"spec": {"boundObjectRef": {"kind": "Pod", "name": "gone"}}}')
    with pytest.raises(BadRequest, match="runs as"):
        await sa.create_token("team", "builder", b'{"spec": {"boundObjectRef": {"kind": "Pod", "name": "other"}}}')
    sa.put("pods", "team", "web", spec={"serviceAccountName": "builder", "containers": []})
    with pytest.raises(Conflict, match="does not match"):
        await sa.create_token("team", "builder",
                              b'{"spec": {"boundObjectRef": {"kind": "Pod", "name": "web", "uid": "old"}}}')
    with pytest.raises(BadRequest, match="Kind=Secret"):
        await sa.create_token("team", "builder", b'{"spec": {"boundObjectRef": {"kind": "Secret", "name": "s"}}}')
    with pytest.raises(ServiceUnavailable, match="signing-key"):
        await FakeAccounts().create_token("team", "builder", b"{}")

"""The ServiceAccount projected volume on the node: token, ca.crt, namespace; refresh at 80%."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

import pytest

from apiserver.serviceaccount.admission import api_access_volume
from kubelet.envvars import ConfigError, RefData, referenced_objects
from kubelet.refs import load_refs, refs_digest
from kubelet.tokens import TokenManager, refresh_point
from kubelet.volumes import refresh_projections, setup_volumes
from kubelite.api import ConfigMap, Pod, Secret, TokenRequest
from kubelite.api.errors import ServiceUnavailable
from kubelite.client import ApiClient


def sa_pod() -> Pod:
    vol = api_access_volume("kube-api-access-abcde").to_dict()
    return Pod.from_dict({
        "metadata": {"name": "web", "namespace": "prod", "uid": "u-1"},
        "spec": {"serviceAccountName": "builder", "volumes": [vol], "containers": [{
            "name": "c", "image": "i", "volumeMounts": [{"name": "kube-api-access-abcde", "readOnly": True,
                                                         "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        }]},
    })


class FakeClient:
    """Answers TokenRequests with numbered tokens; `fail` makes the next calls fail."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.calls: list[dict[str, Any]] = []
        self.fail = False

    async def create_token(self, name: str, namespace: str, *, audiences: list[str], expiration_seconds: int,
                           bound_pod: tuple[str, str]) -> TokenRequest:
        if self.fail:
            raise ServiceUnavailable("apiserver down")
        self.calls.append({"name": name, "namespace": namespace, "audiences": audiences,
                           "seconds": expiration_seconds, "pod": bound_pod})
        from kubelite.api.timeutil import format_unix

        return TokenRequest.from_dict({"metadata": {"name": name}, "status": {
            "token": f"token-{len(self.calls)}",
            "expirationTimestamp": format_unix(self.clock[0] + expiration_seconds)}})


class NoObjects:
    def __init__(self, cms: dict[str, ConfigMap] | None = None) -> None:
        self.cms = cms or {}

    async def config_map(self, namespace: str, name: str) -> ConfigMap | None:
        return self.cms.get(name)

    async def secret(self, namespace: str, name: str) -> Secret | None:
        return None


def visible(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in path.iterdir() if not p.name.startswith("..")}


async def test_token_refreshed_at_80_percent_and_kept_on_failure() -> None:
    clock = [1_000_000.0]
    fake = FakeClient(clock)
    tokens = TokenManager(cast(ApiClient, fake), clock=lambda: clock[0])
    pod = sa_pod()
    assert await tokens.token(pod, "", 3607) == b"token-1"
    assert fake.calls == [{"name": "builder", "namespace": "prod", "audiences": [], "seconds": 3607,
                           "pod": ("web", "u-1")}]
    clock[0] += 0.8 * 3607 - 1
    assert await tokens.token(pod, "", 3607) == b"token-1", "reused before 80% of the lifetime"
    clock[0] += 2
    assert await tokens.token(pod, "", 3607) == b"token-2", "replaced after"
    clock[0] += 0.8 * 3607 + 1
    fake.fail = True
    assert await tokens.token(pod, "", 3607) == b"token-2", "kept while still valid when the apiserver fails"
    clock[0] += 3607
    with pytest.raises(ServiceUnavailable):
        await tokens.token(pod, "", 3607)
    tokens.forget("u-1")
    assert tokens.cached() == 0
    assert refresh_point(0, 10 * 24 * 3600) == 24 * 3600, "never older than a day"


async def test_next_refresh_is_when_the_pods_first_token_is_due() -> None:
    """The worker sleeps until then (its periodic sync is a minute), so it must be exact."""
    clock = [1_000_000.0]
    tokens = TokenManager(cast(ApiClient, FakeClient(clock)), clock=lambda: clock[0])
    pod = sa_pod()
    assert tokens.next_refresh("u-1") is None, "no token yet: nothing to wake for"
    await tokens.token(pod, "", 3600)
    await tokens.token(pod, "vault", 1000)
    assert tokens.next_refresh("u-1") == clock[0] + 800, "the earlier of the two refresh points"
    assert tokens.next_refresh("another-pod") is None
    clock[0] += 801
    await tokens.token(pod, "vault", 1000)
    assert tokens.next_refresh("u-1") == clock[0] + 800
    tokens.forget("u-1")
    assert tokens.next_refresh("u-1") is None


async def test_projected_volume_files(tmp_path: Path) -> None:
    clock = [1_000_000.0]
    tokens = TokenManager(cast(ApiClient, FakeClient(clock)), clock=lambda: clock[0])
    pod = sa_pod()
    assert referenced_objects(pod) == ({"kube-root-ca.crt"}, set())
    refs = await load_refs(pod, NoObjects(), tokens)
    paths = setup_volumes(tmp_path, pod, refs)
    target = paths["kube-api-access-abcde"]
    assert visible(target) == {"token": "token-1", "namespace": "prod"}, "ca.crt is optional (no CA published)"
    assert os.readlink(target / "token") == "..data/token"
    assert oct((target / "token").stat().st_mode & 0o777) == "0o644"

    ca = ConfigMap.from_dict({"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "PEM"}})
    clock[0] += 3000  # past 80%: a new token
    refs2 = await load_refs(pod, NoObjects({"kube-root-ca.crt": ca}), tokens)
    assert refs_digest(refs2) != refs_digest(refs)
    old_data = os.readlink(target / "..data")
    assert refresh_projections(tmp_path, pod, refs2) == ["kube-api-access-abcde"]
    assert visible(target) == {"token": "token-2", "namespace": "prod", "ca.crt": "PEM"}
    assert os.readlink(target / "..data") != old_data, "swapped atomically to a new directory"
    assert not (target / old_data).exists()


def test_missing_token_or_source_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="token not available"):
        setup_volumes(tmp_path, sa_pod(), RefData())
    pod = Pod.from_dict(json.loads(json.dumps({
        "metadata": {"name": "p", "namespace": "prod", "uid": "u"},
        "spec": {"volumes": [{"name": "v", "projected": {"sources": [{"clusterTrustBundle": {}}]}}],
                 "containers": [{"name": "c", "image": "i"}]}})))
    with pytest.raises(ConfigError, match="not supported"):
        setup_volumes(tmp_path, pod, RefData())


def test_downward_api_volume(tmp_path: Path) -> None:
    pod = Pod.from_dict({
        "metadata": {"name": "p", "namespace": "prod", "uid": "u", "labels": {"app": "web"}},
        "spec": {"volumes": [{"name": "info", "downwardAPI": {"items": [
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}, "mode": 0o600}]}}],
            "containers": [{"name": "c", "image": "i"}]}})
    target = setup_volumes(tmp_path, pod, RefData())["info"]
    assert visible(target) == {"name": "p", "labels": 'app="web"'}
    assert oct((target / "labels").stat().st_mode & 0o777) == "0o600"

"""Bound ServiceAccount tokens: what the issuer signs and every reason the validator refuses one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from apiserver.serviceaccount.config import ServiceAccountConfig
from apiserver.serviceaccount.keys import (
    KeyFileError,
    generate_signing_key,
    load_signing_key,
    load_verification_keys,
    public_key_of,
)
from apiserver.serviceaccount.tokens import DEFAULT_ISSUER, BoundPod, TokenIssuer, TokenValidator

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Store:
    """What the validator's getter sees: (resource, ns, name) -> object."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}

    def put(self, resource: str, ns: str, name: str, uid: str, **meta: Any) -> None:
        self.objects[(resource, ns, name)] = {"metadata": {"name": name, "namespace": ns, "uid": uid, **meta}}

    async def get(self, resource: str, ns: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((resource, ns, name))


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sa") / "sa.key"
    generate_signing_key(path, public_path=path.with_suffix(".pub"))
    return path


def setup(key_file: Path, audiences: list[str] | None = None) -> tuple[TokenIssuer, TokenValidator, Store, Clock]:
    clock = Clock()
    key = load_signing_key(key_file)
    store = Store()
    store.put("serviceaccounts", "team", "builder", "sa-uid")
    store.put("pods", "team", "web-1", "pod-uid")
    issuer = TokenIssuer(key, clock=clock)
    validator = TokenValidator(load_verification_keys(key_file.with_suffix(".pub")), [DEFAULT_ISSUER],
                               audiences or ["api"], store.get, clock=clock)
    return issuer, validator, store, clock


def issue(issuer: TokenIssuer, audiences: list[str] | None = None, seconds: int = 3600) -> str:
    return issuer.issue("team", "builder", "sa-uid", audiences or ["api"], seconds,
                        BoundPod("web-1", "pod-uid")).token


async def test_claims_and_user_like_kubernetes(key_file: Path) -> None:
    issuer, validator, _, _ = setup(key_file)
    token = issue(issuer)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == issuer.public.kid
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == DEFAULT_ISSUER
    assert claims["sub"] == "system:serviceaccount:team:builder"
    assert claims["aud"] == ["api"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"] == int(T0.timestamp())
    assert claims["kubernetes.io"] == {"namespace": "team", "serviceaccount": {"name": "builder", "uid": "sa-uid"},
                                       "pod": {"name": "web-1", "uid": "pod-uid"}}
    user = await validator.validate(token)
    assert user is not None
    assert user.name == "system:serviceaccount:team:builder" and user.uid == "sa-uid"
    assert user.groups == ["system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"]
    assert user.extra["authentication.kubernetes.io/pod-name"] == ["web-1"]
    assert user.extra["authentication.kubernetes.io/pod-uid"] == ["pod-uid"]


async def test_expired_and_not_yet_valid(key_file: Path) -> None:
    issuer, validator, _, clock = setup(key_file)
    token = issue(issuer, seconds=600)
    clock.now = T0 + timedelta(seconds=599)
    assert await validator.validate(token) is not None
    clock.now = T0 + timedelta(seconds=600)
    assert await validator.validate(token) is None, "expired"
    clock.now = T0 - timedelta(seconds=5)
    assert await validator.validate(token) is None, "not valid before nbf"


async def test_wrong_audience(key_file: Path) -> None:
    issuer, validator, _, _ = setup(key_file, audiences=["api"])
    assert await validator.validate(issue(issuer, audiences=["vault"])) is None
    assert await validator.validate(issue(issuer, audiences=["vault", "api"])) is not None


async def test_wrong_signer_and_tampering(key_file: Path, tmp_path: Path) -> None:
    _, validator, _, clock = setup(key_file)
    other = tmp_path / "other.key"
    generate_signing_key(other)
    forged = issue(TokenIssuer(load_signing_key(other), clock=clock))
    assert await validator.validate(forged) is None
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert await validator.validate(issue(TokenIssuer(ec_key, clock=clock))) is None
    good = issue(TokenIssuer(load_signing_key(key_file), clock=clock))
    head, body, sig = good.split(".")
    assert await validator.validate(f"{head}.{body}.{sig[:-4]}AAAA") is None
    assert await validator.validate("not-a-jwt") is None


async def test_es256_keys_work(tmp_path: Path) -> None:
    clock = Clock()
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = TokenIssuer(key, clock=clock)
    assert issuer.public.algorithm == "ES256"
    validator = TokenValidator([public_key_of(key)], [DEFAULT_ISSUER], ["api"], None, clock=clock)
    token = issuer.issue("ns", "sa", "u", ["api"], 600).token
    assert (await validator.validate(token)) is not None


async def test_other_issuer_is_not_ours(key_file: Path) -> None:
    _, validator, _, clock = setup(key_file)
    token = TokenIssuer(load_signing_key(key_file), "https://elsewhere", clock=clock).issue(
        "team", "builder", "sa-uid", ["api"], 600).token
    assert await validator.validate(token) is None


async def test_deleted_or_replaced_pod_and_service_account(key_file: Path) -> None:
    issuer, validator, store, clock = setup(key_file)
    token = issue(issuer)
    store.put("pods", "team", "web-1", "other-uid")  # deleted and recreated under the same name
    assert await validator.validate(token) is None
    del store.objects[("pods", "team", "web-1")]
    assert await validator.validate(token) is None
    store.put("pods", "team", "web-1", "pod-uid", deletionTimestamp="2026-03-01T12:00:30Z")
    clock.now = T0 + timedelta(seconds=60)
    assert await validator.validate(token) is not None, "a pod in its grace period keeps its token"
    clock.now = T0 + timedelta(seconds=91)
    assert await validator.validate(token) is None, "...for a minute past its deletion timestamp"
    clock.now = T0
    store.put("pods", "team", "web-1", "pod-uid")
    store.put("serviceaccounts", "team", "builder", "new-sa-uid")
    assert await validator.validate(token) is None, "the service account was replaced"


def test_config_defaults_and_key_files(key_file: Path, tmp_path: Path) -> None:
    cfg = ServiceAccountConfig.from_files(str(key_file))
    assert cfg.api_audiences == [DEFAULT_ISSUER], "audiences default to the issuer, like Kubernetes"
    assert [k.kid for k in cfg.validator(None).keys] == [public_key_of(load_signing_key(key_file)).kid]
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    with pytest.raises(KeyFileError, match="bad.pem"):
        load_signing_key(bad)
    with pytest.raises(KeyFileError, match="no PEM"):
        load_verification_keys(bad)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"

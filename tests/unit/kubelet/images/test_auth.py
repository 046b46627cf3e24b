"""Pull credentials come from kubernetes.io/dockerconfigjson Secret data."""

from __future__ import annotations

import base64
import json

import pytest

from kubelet.images.auth import InvalidDockerConfig, RegistryAuth, auth_from_dockerconfigjson


def cfg(auths: dict[str, object]) -> bytes:
    return json.dumps({"auths": auths}).encode()


def test_username_password_and_auth_field() -> None:
    data = cfg({"reg:5000": {"username": "u", "password": "p"},
                "other.io": {"auth": base64.b64encode(b"bob:pa:ss").decode()}})
    assert auth_from_dockerconfigjson(data, "reg:5000") == RegistryAuth("u", "p")
    assert auth_from_dockerconfigjson(data, "other.io") == RegistryAuth("bob", "pa:ss")
    assert auth_from_dockerconfigjson(data, "missing:1") is None


def test_keys_with_scheme_and_docker_hub_aliases() -> None:
    data = cfg({"https://index.docker.io/v1/": {"username": "hub", "password": "x"},
                "http://reg:5000/v2/": {"username": "r", "password": "y"}})
    assert auth_from_dockerconfigjson(data, "docker.io") == RegistryAuth("hub", "x")
    assert auth_from_dockerconfigjson(data, "registry-1.docker.io") == RegistryAuth("hub", "x")
    assert auth_from_dockerconfigjson(data, "reg:5000") == RegistryAuth("r", "y")


def test_legacy_dockercfg() -> None:
    data = json.dumps({"reg:5000": {"username": "u", "password": "p"}}).encode()
    assert auth_from_dockerconfigjson(data, "reg:5000") == RegistryAuth("u", "p")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{nope", "not valid JSON"),
        (b"[]", "not an object"),
        (cfg({"reg:5000": {"auth": "!!!"}}), "base64"),
        (cfg({"reg:5000": {"auth": base64.b64encode(b"nocolon").decode()}}), "user:password"),
        (cfg({"reg:5000": {}}), "neither"),
    ],
)
def test_malformed(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidDockerConfig, match=fragment):
        auth_from_dockerconfigjson(data, "reg:5000")


def test_password_not_in_repr() -> None:
    assert "s3cret" not in repr(RegistryAuth("u", "s3cret"))

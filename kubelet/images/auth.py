"""Registry credentials, and reading them from a `kubernetes.io/dockerconfigjson` Secret.

Why here: `imagePullSecrets` hold Docker's config file format; the kubelet only
needs "which username/password for this registry", so the format knowledge
stays with the code that talks to registries.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from kubelet.images.reference import DOCKER_HUB, DOCKER_HUB_API

_HUB_ALIASES = {DOCKER_HUB, DOCKER_HUB_API, "index.docker.io"}


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for one registry: basic auth, also used to obtain Bearer tokens."""

    username: str
    password: str

    def __repr__(self) -> str:  # never log a password
        return f"RegistryAuth(username={self.username!r}, password=***)"


class InvalidDockerConfig(ValueError):
    """The Secret's data is not a Docker config JSON; the message says what is wrong."""


def _host_of(key: str) -> str:
    """`https://index.docker.io/v1/` -> `index.docker.io`; `host:5000/path` -> `host:5000`."""
    text = key.strip()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    return text.split("/", 1)[0].lower()


def _same_registry(a: str, b: str) -> bool:
    if a == b:
        return True
    return a in _HUB_ALIASES and b in _HUB_ALIASES


def _entry_auth(entry: Any, key: str) -> RegistryAuth:
    if not isinstance(entry, dict):
        raise InvalidDockerConfig(f"auths[{key!r}] is not an object")
    username, password = entry.get("username"), entry.get("password")
    if isinstance(username, str) and isinstance(password, str) and username:
        return RegistryAuth(username, password)
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidDockerConfig(f"auths[{key!r}].auth is not base64 of 'user:password'") from None
        user, sep, pw = decoded.partition(":")
        if not sep:
            raise InvalidDockerConfig(f"auths[{key!r}].auth does not contain 'user:password'")
        return RegistryAuth(user, pw)
    raise InvalidDockerConfig(f"auths[{key!r}] has neither username/password nor auth")


def auth_from_dockerconfigjson(data: bytes, registry: str) -> RegistryAuth | None:
    """Credentials for `registry` (host[:port]) from a `.dockerconfigjson` (or legacy `.dockercfg`).

    Returns None when the config has no entry for that registry; raises
    InvalidDockerConfig when the data is malformed.
    """
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDockerConfig(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidDockerConfig("top level is not an object")
    auths = doc.get("auths", doc)  # legacy .dockercfg is the bare map
    if not isinstance(auths, dict):
        raise InvalidDockerConfig("'auths' is not an object")
    wanted = _host_of(registry)
    for key, entry in auths.items():
        if _same_registry(_host_of(str(key)), wanted):
            return _entry_auth(entry, str(key))
    return None

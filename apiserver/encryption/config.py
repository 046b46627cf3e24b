"""Reading `--encryption-provider-config`: Kubernetes' EncryptionConfiguration file.

    apiVersion: apiserver.config.k8s.io/v1
    kind: EncryptionConfiguration
    resources:
      - resources: [secrets]            # or configmaps, deployments.apps, *.apps, *.*
        providers:                      # the first one encrypts, all of them decrypt
          - aesgcm:
              keys:
                - name: key1
                  secret: <base64 of 16, 24 or 32 random bytes>
          - identity: {}                # reads values written before encryption

Why strict: a typo here silently leaves Secrets in plaintext (or, worse, makes
them unreadable after a restart), so every problem is an `EncryptionConfigError`
naming the file and the field path (`resources[0].providers[1].aesgcm.keys[0].secret`),
and the apiserver refuses to start. Unknown fields are errors, like Kubernetes'
strict decoding. `secretbox` (needs PyNaCl, not installed) and `kms` (needs a
KMS plugin) are rejected by name rather than ignored.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any

import yaml

from apiserver.encryption.providers import (
    AESCBCProvider,
    AESGCMProvider,
    IdentityProvider,
    Provider,
    ProviderChain,
    StorageTransformers,
)
from kubelite.api import registry

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
AES_KEY_SIZES = (16, 24, 32)
DEFAULT_KEY_NAME = "key1"

_UNSUPPORTED = {
    "secretbox": "secretbox needs PyNaCl, which is not installed; use aesgcm",
    "kms": "KMS plugins are not supported by kubelite; use aesgcm",
}
_AES: dict[str, type[AESGCMProvider] | type[AESCBCProvider]] = {"aesgcm": AESGCMProvider, "aescbc": AESCBCProvider}


class EncryptionConfigError(Exception):
    """The config file is unusable; the message names the file and the field."""

    def __init__(self, path: str | Path, field: str, message: str) -> None:
        super().__init__(f"{path}: {field}: {message}" if field else f"{path}: {message}")
        self.path = str(path)
        self.field = field


class _Reader:
    """Validates one parsed document, collecting the file name for every error."""

    def __init__(self, path: str | Path) -> None:
        self.path = path

    def fail(self, field: str, message: str) -> EncryptionConfigError:
        return EncryptionConfigError(self.path, field, message)

    def mapping(self, value: Any, field: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, f"must be a mapping, got {_type(value)}")
        for k in value:
            if k not in allowed:
                raise self.fail(f"{field}.{k}" if field else str(k),
                                f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return value

    def listing(self, value: Any, field: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.fail(field, "must be a non-empty list")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(field, "must be a non-empty string")
        return value

    def document(self, doc: Any) -> StorageTransformers:
        top = self.mapping(doc, "", {"apiVersion", "kind", "resources"})
        if top.get("apiVersion") != API_VERSION:
            raise self.fail("apiVersion", f"must be {API_VERSION!r}, got {top.get('apiVersion')!r}")
        if top.get("kind") != KIND:
            raise self.fail("kind", f"must be {KIND!r}, got {top.get('kind')!r}")
        chains: dict[str, ProviderChain] = {}
        named: dict[str, str] = {}  # resource as written -> field (duplicate check)
        for i, entry in enumerate(self.listing(top.get("resources"), "resources")):
            field = f"resources[{i}]"
            entry = self.mapping(entry, field, {"resources", "providers"})
            resources = self.listing(entry.get("resources"), f"{field}.resources")
            chain = ProviderChain(self.providers(entry.get("providers"), f"{field}.providers"))
            for j, name in enumerate(resources):
                rfield = f"{field}.resources[{j}]"
                name = self.string(name, rfield)
                if name in named:
                    raise self.fail(rfield, f"{name!r} is already listed at {named[name]}")
                named[name] = rfield
                for plural in self.resolve(name, rfield):
                    chains.setdefault(plural, chain)  # the first entry that covers a resource wins
        return StorageTransformers(chains, str(self.path))

    def resolve(self, name: str, field: str) -> list[str]:
        """Resource plurals (storage key segments) that `name` covers, Kubernetes' spelling:
        `secrets` (core group), `deployments.apps`, `*.` (all core), `*.apps`, `*.*`."""
        kinds = registry.all_kinds()
        if name == "*.*":
            return sorted({k.resource for k in kinds})
        resource, dot, group = name.partition(".")
        if resource == "*":
            found = sorted({k.resource for k in kinds if k.group == group})
            if not found:
                raise self.fail(field, f"no kubelite resources in API group {group!r}")
            return found
        for k in kinds:
            if k.resource == resource and k.group == group:
                return [k.resource]
        hint = next((f" (did you mean {_spelling(k.resource, k.group)!r}?)"
                     for k in kinds if k.resource == resource), "")
        raise self.fail(field, f"unknown resource {name!r}{hint}")

    def providers(self, value: Any, field: str) -> list[Provider]:
        out: list[Provider] = []
        seen: dict[tuple[str, str], str] = {}  # (provider type, key name) -> field
        for i, item in enumerate(self.listing(value, field)):
            pfield = f"{field}[{i}]"
            if not isinstance(item, dict) or len(item) != 1:
                raise self.fail(pfield, "each provider must be a mapping with exactly one provider "
                                        "(aesgcm, aescbc or identity); split several into list items")
            kind, body = next(iter(item.items()))
            kfield = f"{pfield}.{kind}"
            if kind in _UNSUPPORTED:
                raise self.fail(kfield, f"provider not supported: {_UNSUPPORTED[kind]}")
            if kind == "identity":
                if body not in (None, {}):
                    raise self.fail(kfield, "takes no settings: write `identity: {}`")
                out.append(IdentityProvider())
                continue
            if kind not in _AES:
                raise self.fail(kfield, f"unknown provider {kind!r} (supported: aesgcm, aescbc, identity)")
            body = self.mapping(body, kfield, {"keys"})
            for j, key in enumerate(self.listing(body.get("keys"), f"{kfield}.keys")):
                out.append(self.key(_AES[kind], kind, key, f"{kfield}.keys[{j}]", seen))
        return out

    def key(self, cls: type[AESGCMProvider] | type[AESCBCProvider], kind: str, value: Any, field: str,
            seen: dict[tuple[str, str], str]) -> Provider:
        key = self.mapping(value, field, {"name", "secret"})
        name = self.string(key.get("name"), f"{field}.name")
        if ":" in name:
            raise self.fail(f"{field}.name", "must not contain ':' (it ends the key name in stored values)")
        if (kind, name) in seen:
            raise self.fail(f"{field}.name", f"{kind} key {name!r} is already defined at {seen[(kind, name)]}")
        seen[(kind, name)] = f"{field}.name"
        text = self.string(key.get("secret"), f"{field}.secret")
        try:
            secret = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise self.fail(f"{field}.secret", "is not valid base64") from None
        if len(secret) not in AES_KEY_SIZES:
            raise self.fail(f"{field}.secret",
                            f"must decode to 16, 24 or 32 bytes (AES-128/192/256), got {len(secret)}")
        return cls(name, secret)


def _spelling(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _type(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def parse_config(text: str, path: str | Path = "<config>") -> StorageTransformers:
    """Validate an EncryptionConfiguration document; raises EncryptionConfigError."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EncryptionConfigError(path, "", f"not valid YAML: {exc}") from None
    if doc is None:
        raise EncryptionConfigError(path, "", "the file is empty")
    return _Reader(path).document(doc)


def load_config(path: str | Path) -> StorageTransformers:
    """Read and validate `--encryption-provider-config`; raises EncryptionConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EncryptionConfigError(path, "", f"cannot read the encryption config: {exc}") from None
    return parse_config(text, path)


def new_config_text(key_name: str = DEFAULT_KEY_NAME, secret: bytes | None = None) -> str:
    """A config that encrypts Secrets with a fresh AES-256-GCM key and still reads plain ones."""
    encoded = base64.b64encode(secret if secret is not None else os.urandom(32)).decode()
    return (
        "# Secrets are encrypted at rest with AES-GCM (kubelite apiserver --encryption-provider-config).\n"
        "# Keep this file with the cluster's data: without the key its Secrets cannot be read.\n"
        "# Key rotation: see README.md, \"Secrets encrypted at rest\".\n"
        f"apiVersion: {API_VERSION}\n"
        f"kind: {KIND}\n"
        "resources:\n"
        "  - resources:\n"
        "      - secrets\n"
        "    providers:\n"
        "      - aesgcm:\n"
        "          keys:\n"
        f"            - name: {key_name}\n"
        f"              secret: {encoded}\n"
        "      - identity: {}\n"
    )


def ensure_config_file(path: Path) -> bool:
    """Create `path` (mode 0600) with a new random key unless it exists; True if created.

    Why never overwrite: the key in an existing file is the only way to read the
    Secrets already stored with it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(new_config_text())
    return True

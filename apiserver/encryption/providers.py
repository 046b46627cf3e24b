"""Value transformers: how one stored value is encrypted and decrypted.

Why Kubernetes' exact byte format: a value written by kubelite can then be read
by anyone who knows Kubernetes' layout (and `etcdctl get` shows at a glance
which key protects it). An encrypted value is

    k8s:enc:<provider>:v1:<key name>:<provider payload>

with payload nonce(12) || AES-GCM ciphertext+tag for `aesgcm`, and
iv(16) || AES-CBC ciphertext (PKCS#7 padded) for `aescbc`. `identity` stores
the plain JSON with no prefix.

Why the storage key is bound in: AES-GCM authenticates the value's etcd key as
additional data (Kubernetes does the same), so a ciphertext copied under
another key -- someone with write access to etcd moving a Secret into another
namespace -- fails to decrypt instead of being served. AES-CBC cannot
authenticate anything; it exists for configs written for Kubernetes and
`aesgcm` is the provider to choose.

A `ProviderChain` is one `resources[]` entry's provider list: the FIRST
provider (its first key) encrypts every write; every listed provider and key
can decrypt, chosen by the prefix. That is what makes key rotation possible.
A value decrypted by anything but the first provider/key is "stale": the
apiserver rewrites it so it ends up under the current key (`rewrite.py`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENC_PREFIX = b"k8s:enc:"
GCM_NONCE_BYTES = 12
CBC_IV_BYTES = 16


class DecryptError(ValueError):
    """A stored value cannot be turned back into the object's bytes (wrong/missing key, tampering)."""


class Provider(Protocol):
    """One key of one provider (identity has no key): seals and opens payloads after the prefix."""

    @property
    def prefix(self) -> bytes: ...

    @property
    def label(self) -> str: ...

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, payload: bytes, aad: bytes) -> bytes: ...


@dataclass(frozen=True)
class AESGCMProvider:
    """`aesgcm`: AES-GCM with a fresh random 96-bit nonce per write, the storage key as AAD.

    Random nonces are safe for far more writes than a Secret store sees between
    rotations (Kubernetes advises rotating every 200k writes); rotate anyway.
    """

    name: str
    key: bytes

    @property
    def prefix(self) -> bytes:
        return b"k8s:enc:aesgcm:v1:" + self.name.encode() + b":"

    @property
    def label(self) -> str:
        return f"aesgcm key {self.name!r}"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(GCM_NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, aad)

    def open(self, payload: bytes, aad: bytes) -> bytes:
        if len(payload) < GCM_NONCE_BYTES + 16:
            raise DecryptError(f"{self.label}: ciphertext too short")
        try:
            return AESGCM(self.key).decrypt(payload[:GCM_NONCE_BYTES], payload[GCM_NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptError(
                f"{self.label}: authentication failed (the value was altered, copied from another key, "
                "or the key's secret changed)"
            ) from None


@dataclass(frozen=True)
class AESCBCProvider:
    """`aescbc`: AES-CBC with a random IV and PKCS#7 padding (Kubernetes' legacy provider, no AAD)."""

    name: str
    key: bytes

    @property
    def prefix(self) -> bytes:
        return b"k8s:enc:aescbc:v1:" + self.name.encode() + b":"

    @property
    def label(self) -> str:
        return f"aescbc key {self.name!r}"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        iv = os.urandom(CBC_IV_BYTES)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        return iv + enc.update(padded) + enc.finalize()

    def open(self, payload: bytes, aad: bytes) -> bytes:
        body = payload[CBC_IV_BYTES:]
        if len(payload) < 2 * CBC_IV_BYTES or len(body) % 16:
            raise DecryptError(f"{self.label}: ciphertext has an invalid length")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(payload[:CBC_IV_BYTES])).decryptor()
        padded = dec.update(body) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise DecryptError(f"{self.label}: invalid padding (wrong key or altered value)") from None


@dataclass(frozen=True)
class IdentityProvider:
    """`identity`: no encryption; reads plain values written before encryption was enabled."""

    @property
    def prefix(self) -> bytes:
        return b""

    @property
    def label(self) -> str:
        return "identity"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return plaintext

    def open(self, payload: bytes, aad: bytes) -> bytes:
        return payload


def describe_prefix(value: bytes) -> str:
    """What an encrypted value says about itself: 'aesgcm key "k1"' (for error messages)."""
    parts = value[len(ENC_PREFIX):].split(b":", 3)
    if len(parts) == 4 and parts[1] == b"v1":
        return f'{parts[0].decode("utf-8", "replace")} key "{parts[2].decode("utf-8", "replace")}"'
    return "an unknown encryption format"


class ProviderChain:
    """One `resources[]` entry: the first provider writes, any provider reads (by prefix)."""

    def __init__(self, providers: list[Provider]) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        self.providers = providers
        self.primary = providers[0]
        self._encrypting = [p for p in providers if p.prefix]
        self._identity = next((p for p in providers if not p.prefix), None)

    def __repr__(self) -> str:
        return "[" + ", ".join(p.label for p in self.providers) + "]"

    def to_storage(self, key: str, value: bytes) -> bytes:
        return self.primary.prefix + self.primary.seal(value, key.encode())

    def from_storage(self, key: str, value: bytes) -> tuple[bytes, bool]:
        """(plaintext, stale): stale when not read with the primary provider; DecryptError if unreadable."""
        if value.startswith(ENC_PREFIX):
            for p in self._encrypting:
                if value.startswith(p.prefix):
                    return p.open(value[len(p.prefix):], key.encode()), p is not self.primary
            raise DecryptError(
                f"{key} is encrypted with {describe_prefix(value)}, which is not in the encryption config"
            )
        if self._identity is None:
            raise DecryptError(f"{key} is stored unencrypted and the encryption config lists no identity provider")
        return value, self._identity is not self.primary


class StorageTransformers:
    """Which chain applies to which storage key: `/registry/<resource>/...` by resource.

    Keys of resources no entry covers are stored as they are; reading one that
    is encrypted anyway (encryption was turned off without decrypting first)
    fails with an error naming the key that was used, instead of a JSON error.
    """

    def __init__(self, chains: dict[str, ProviderChain] | None = None, source: str = "") -> None:
        self.chains = dict(chains or {})  # resource plural -> chain
        self.source = source  # the config file (for log lines)

    @property
    def prefixes(self) -> list[str]:
        """The storage prefixes whose values this config transforms."""
        return [f"/registry/{resource}/" for resource in sorted(self.chains)]

    def chain_for(self, key: str) -> ProviderChain | None:
        if not key.startswith("/registry/"):
            return None
        resource = key[len("/registry/"):].partition("/")[0]
        return self.chains.get(resource)

    def to_storage(self, key: str, value: bytes) -> bytes:
        chain = self.chain_for(key)
        return value if chain is None else chain.to_storage(key, value)

    def from_storage(self, key: str, value: bytes) -> tuple[bytes, bool]:
        chain = self.chain_for(key)
        if chain is not None:
            return chain.from_storage(key, value)
        if value.startswith(ENC_PREFIX):
            raise DecryptError(
                f"{key} is encrypted with {describe_prefix(value)}, but no encryption provider config covers it"
            )
        return value, False

    def summary(self) -> dict[str, str]:
        """resource -> "aesgcm key 'k1', identity" (what the apiserver logs at startup)."""
        return {r: ", ".join(p.label for p in c.providers) for r, c in sorted(self.chains.items())}

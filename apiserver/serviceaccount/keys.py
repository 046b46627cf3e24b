"""ServiceAccount signing keys: load them from PEM files, make a new one for `kubelite up`.

Why a `kid` from the public key's hash (as Kubernetes does: base64url of the
SHA-256 of the DER SubjectPublicKeyInfo): with several verification keys (a
rotation in progress) the validator picks the right one without trying all,
and anyone holding the public key can compute the same id.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

SigningKeyType = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKeyType = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class KeyFileError(ValueError):
    """A key file that cannot be used (names the file and why)."""


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    algorithm: str  # RS256 | ES256
    key: PublicKeyType


def algorithm_for(key: PublicKeyTypes | PrivateKeyTypes) -> str:
    """RS256 for RSA keys, ES256 for P-256 keys; anything else is refused."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise KeyFileError(f"RSA key of {key.key_size} bits is too small (need >= 2048)")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyFileError(f"EC key on curve {key.curve.name} is not supported (use P-256 for ES256)")
        return "ES256"
    raise KeyFileError(f"{type(key).__name__} keys are not supported (use RSA or EC P-256)")


def key_id(public: PublicKeyType) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _pem_blocks(text: bytes) -> list[bytes]:
    blocks: list[bytes] = []
    current: list[bytes] = []
    for line in text.splitlines(keepends=True):
        if line.startswith(b"-----BEGIN "):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith(b"-----END "):
                blocks.append(b"".join(current))
                current = []
    return blocks


def load_signing_key(path: str | Path) -> SigningKeyType:
    """The private key in `path` (PEM, PKCS#1/PKCS#8/SEC1)."""
    try:
        data = Path(path).read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM private key: {exc}") from None
    try:
        algorithm_for(key)
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def load_verification_keys(path: str | Path) -> list[VerificationKey]:
    """Every public key in `path`: public keys, certificates' keys, or the public half of private keys."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or exc}") from None
    out: list[VerificationKey] = []
    for block in _pem_blocks(data):
        public: PublicKeyTypes
        try:
            if b"PRIVATE KEY" in block.splitlines()[0]:
                public = serialization.load_pem_private_key(block, password=None).public_key()
            elif b"CERTIFICATE" in block.splitlines()[0]:
                from cryptography import x509

                public = x509.load_pem_x509_certificate(block).public_key()
            else:
                public = serialization.load_pem_public_key(block)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path}: unreadable PEM block: {exc}") from None
        try:
            algorithm = algorithm_for(public)
        except KeyFileError as exc:
            raise KeyFileError(f"{path}: {exc}") from None
        assert isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        out.append(VerificationKey(key_id(public), algorithm, public))
    if not out:
        raise KeyFileError(f"{path}: no PEM public or private key found")
    return out


def public_key_of(key: SigningKeyType) -> VerificationKey:
    public = key.public_key()
    return VerificationKey(key_id(public), algorithm_for(public), public)


def generate_signing_key(path: str | Path, *, public_path: str | Path | None = None) -> None:
    """Write a new RSA-2048 private key (PKCS#8 PEM, mode 0600) and optionally its public key.

    `kubelite up` calls this once per data dir; an existing file is kept so a
    restarted cluster's tokens stay valid.
    """
    target = Path(path)
    if not target.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    if public_path is not None:
        public = load_signing_key(target).public_key()
        Path(public_path).write_bytes(public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

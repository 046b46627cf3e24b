"""X.509 building blocks of the cluster PKI: keys, CAs, leaf certificates, PEM files.

Why our own small module on `cryptography` rather than shelling out to
openssl: `kubelite up` must create and check certificates on any machine
without depending on a CLI's version and flags, and the checks (who signed
it, which names it carries, when it expires) are the same code `kubelite
certs` and the tests use.

Keys are ECDSA P-256: generating one takes microseconds (RSA-2048 takes tens
of milliseconds, times a dozen certificates per cluster), and every client in
play (grpc's BoringSSL, Go's etcdctl) accepts them.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubelite.api.x509sign import BACKDATE, leaf_certificate
from kubelite.pki.flags import cert_path as cert_path  # callers import the paths from here too
from kubelite.pki.flags import key_path as key_path

PrivateKey = ec.EllipticCurvePrivateKey

CA_VALIDITY = dt.timedelta(days=3650)  # like kubeadm: CAs for ten years, leaves for one
LEAF_VALIDITY = dt.timedelta(days=365)
_BACKDATE = BACKDATE


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class CertSpec:
    """What one leaf certificate must say: who it is (CN=user, O=groups), where it is reached
    (SANs), what it is for (server and/or client auth), and which CA signs it."""

    name: str  # file name under the PKI dir, without suffix ("apiserver", "etcd/server")
    ca: str  # the signing CA's name ("ca", "etcd/ca")
    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    server: bool = False
    client: bool = False

    @classmethod
    def of(cls, name: str, ca: str, cert: x509.Certificate) -> CertSpec:
        """The spec an existing certificate was issued from (renewal re-issues exactly this)."""
        dns, ips = sans(cert)
        usages = _usages(cert)
        cn, orgs = subject_identity(cert)
        return cls(name, ca, cn, tuple(orgs), tuple(sorted(dns)), tuple(sorted(ips)),
                   server=ExtendedKeyUsageOID.SERVER_AUTH in usages,
                   client=ExtendedKeyUsageOID.CLIENT_AUTH in usages)


@dataclass
class KeyPair:
    cert: x509.Certificate
    key: PrivateKey = field(repr=False)

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def create_ca(common_name: str, *, now: dt.datetime | None = None,
              validity: dt.timedelta = CA_VALIDITY, key: PrivateKey | None = None) -> KeyPair:
    """A self-signed CA that may sign leaves only (path length 0)."""
    now = now or utcnow()
    key = key or new_key()
    name = _name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert, key)


def issue(spec: CertSpec, ca: KeyPair, *, now: dt.datetime | None = None,
          validity: dt.timedelta = LEAF_VALIDITY, key: PrivateKey | None = None) -> KeyPair:
    """A leaf certificate for `spec` signed by `ca`; never valid past the CA itself."""
    now = now or utcnow()
    key = key or new_key()
    if not (spec.server or spec.client):
        raise ValueError(f"certificate {spec.name} is for neither server nor client auth")
    cert = leaf_certificate(_name(spec.common_name, spec.organizations), key.public_key(), ca.cert, ca.key, now=now,
                            validity=validity, server=spec.server, client=spec.client, dns_names=spec.dns_names,
                            ips=spec.ips)
    return KeyPair(cert, key)


def sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    """(DNS names, IP addresses) of a certificate's subjectAltName."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(ext.get_values_for_type(x509.DNSName)), {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}


def _usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    try:
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


def subject_identity(cert: x509.Certificate) -> tuple[str, list[str]]:
    """(CN, [O...]): the Kubernetes user name and groups a client certificate carries."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cns[0].value) if cns else ""), [str(o.value) for o in orgs]


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Is `cert` issued by `ca` (issuer name and signature; validity times not considered)?"""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def problem(cert: x509.Certificate, ca: x509.Certificate, now: dt.datetime | None = None) -> str | None:
    """Why `cert` is not a currently valid certificate issued by `ca` (None: it is)."""
    now = now or utcnow()
    if not signed_by(cert, ca):
        return f"not signed by {ca.subject.rfc4514_string()}"
    if now < cert.not_valid_before_utc:
        return "not valid yet"
    if now >= cert.not_valid_after_utc:
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z"
    return None


def save(pki_dir: Path, name: str, pair: KeyPair) -> None:
    """Write `<name>.key` (mode 0600, never readable by others) and `<name>.crt`, each atomically."""
    crt, keyf = cert_path(pki_dir, name), key_path(pki_dir, name)
    crt.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_pem = pair.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    _write_atomic(keyf, key_pem, 0o600)
    _write_atomic(crt, pair.cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def load(pki_dir: Path, name: str) -> KeyPair | None:
    """The stored pair, or None when either file is missing or unreadable, or the key does not match."""
    cert = load_cert(cert_path(pki_dir, name))
    if cert is None:
        return None
    try:
        key = serialization.load_pem_private_key(key_path(pki_dir, name).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        return None
    return KeyPair(cert, key)

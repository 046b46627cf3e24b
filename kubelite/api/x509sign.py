"""Building a leaf certificate for a public key: the one place kubelite signs X.509 leaves.

Why in `kubelite.api`: both the PKI that `kubelite up` writes (`kubelite.pki`)
and the controller-manager's CSR signer (a daemon, which may not import
`kubelite.pki`) issue leaves with the same extensions; one function keeps
them identical.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock differences between processes
CAPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def leaf_certificate(subject: x509.Name, public_key: PublicKey, ca_cert: x509.Certificate, ca_key: CAPrivateKey,
                     *, now: dt.datetime, validity: dt.timedelta, server: bool = False, client: bool = False,
                     dns_names: Sequence[str] = (), ips: Sequence[str] = ()) -> x509.Certificate:
    """A leaf for `public_key` signed by the CA, valid from a little before `now` for `validity`
    but never past the CA itself; digital signature, server and/or client auth, the given SANs."""
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    if not usages:
        raise ValueError("a certificate must be for server or client auth")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca_cert.subject)
        .public_key(public_key).serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
                                     key_cert_sign=False, crl_sign=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    alt: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    alt += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    algorithm = None if isinstance(ca_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(ca_key, algorithm)

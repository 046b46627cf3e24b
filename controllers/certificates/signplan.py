"""csrsigning's decision and certificate for one CertificateSigningRequest (pure but for the CA key).

Only approved, not yet issued, not failed requests of signers
`kubernetes.io/kube-apiserver-client-kubelet` and `kubernetes.io/kubelet-serving`
are this signer's; one that is not a well-formed kubelet request is marked Failed rather than
signed (an administrator may have approved it by mistake). The validity is
the signer's `--cluster-signing-duration`, shortened by the request's
`expirationSeconds`, and never past the CA.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from controllers.certificates.kubeletclient import kubelet_client_problem, kubelet_serving_request
from kubelite.api.certificates import (
    KUBELET_CLIENT_SIGNER,
    KUBELET_SERVING_SIGNER,
    CertificateSigningRequest,
    decode_request,
)
from kubelite.api.x509sign import CAPrivateKey, leaf_certificate


@dataclass(frozen=True)
class SigningCA:
    cert_pem: bytes
    key: CAPrivateKey
    duration: dt.timedelta


@dataclass(frozen=True)
class Outcome:
    certificate: str = ""  # base64 of the PEM certificate
    failure: str = ""  # why the request is marked Failed instead


def wants_signing(csr: CertificateSigningRequest) -> bool:
    return csr.spec.signer_name in (KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER) and csr.approved \
        and not csr.finished


def sign(csr: CertificateSigningRequest, ca: SigningCA, now: dt.datetime) -> Outcome:
    serving = csr.spec.signer_name == KUBELET_SERVING_SIGNER
    dns: list[str] = []
    ips: list[str] = []
    if serving:
        found = kubelet_serving_request(csr)
        problem, dns, ips = found.problem, found.dns_names, found.ips
    else:
        _, problem = kubelet_client_problem(csr)
    if problem:
        return Outcome(failure=problem)
    request = decode_request(csr.spec.request)
    public_key = request.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return Outcome(failure=f"unsupported public key type {type(public_key).__name__}")
    validity = ca.duration
    if csr.spec.expiration_seconds is not None:
        validity = min(validity, dt.timedelta(seconds=csr.spec.expiration_seconds))
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    cert = leaf_certificate(request.subject, public_key, ca_cert, ca.key, now=now, validity=validity,
                            client=not serving, server=serving, dns_names=dns, ips=ips)
    return Outcome(certificate=base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode())


def load_signing_ca(cert_file: str, key_file: str, duration: dt.timedelta) -> SigningCA:
    """The CA of `--cluster-signing-cert-file/--cluster-signing-key-file`; ValueError names the bad file."""
    try:
        cert_pem = open(cert_file, "rb").read()  # noqa: SIM115 - read once at start
        key_pem = open(key_file, "rb").read()  # noqa: SIM115
    except OSError as exc:
        raise ValueError(f"cannot read the signing CA: {exc.strerror or exc}: {exc.filename}") from None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ValueError(f"{cert_file} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ValueError(f"{key_file} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"{key_file}: unsupported key type {type(key).__name__}")
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ValueError(f"{key_file} is not the key of {cert_file}")
    return SigningCA(cert_pem, key, duration)

"""csrapproving's decisions and csrsigning's certificates, on real PKCS#10 requests (no cluster)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controllers.certificates.approveplan import decide
from controllers.certificates.cleanplan import expiry
from controllers.certificates.signplan import SigningCA, sign, wants_signing
from kubelite.api.certificates import (
    KUBELET_CLIENT_SIGNER,
    CertificateSigningRequest,
    CertificateSigningRequestCondition,
    kubelet_client_request,
)
from kubelite.pki.certs import create_ca, new_key

NOW = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
BOOTSTRAPPER = ("system:bootstrap:abcdef", ["system:bootstrappers", "system:authenticated"])
NODE = ("system:node:node-7", ["system:nodes", "system:authenticated"])


def request_for(cn: str, orgs: list[str], *, san: bool = False) -> str:
    name = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("evil.example")]), critical=False)
    csr = builder.sign(new_key(), hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def csr(request: str, requester: tuple[str, list[str]], *, signer: str = KUBELET_CLIENT_SIGNER,
        usages: tuple[str, ...] = ("digital signature", "client auth")) -> CertificateSigningRequest:
    return CertificateSigningRequest.from_dict({
        "metadata": {"name": "csr-1"},
        "spec": {"request": request, "signerName": signer, "usages": list(usages), "username": requester[0],
                 "groups": requester[1]}})


def node_request(node: str = "node-7") -> str:
    return kubelet_client_request(node, new_key())


def test_a_bootstrapper_gets_its_node_certificate_approved() -> None:
    decision = decide(csr(node_request(), BOOTSTRAPPER))
    assert decision is not None and decision.type == "Approved" and decision.reason == "AutoApproved"


def test_a_node_may_renew_only_its_own_certificate() -> None:
    assert (d := decide(csr(node_request("node-7"), NODE))) is not None and d.type == "Approved"
    assert decide(csr(node_request("node-8"), NODE)) is None  # another node's identity: left to an admin


def test_someone_else_is_left_to_an_administrator() -> None:
    assert decide(csr(node_request(), ("alice", ["devs", "system:authenticated"]))) is None
    assert decide(csr(node_request(), BOOTSTRAPPER, signer="example.com/other")) is None


@pytest.mark.parametrize("request_text, usages, why", [
    (lambda: request_for("admin", ["system:masters"]), ("client auth",), "does not start with"),
    (lambda: request_for("system:node:node-7", ["system:nodes", "system:masters"]), ("client auth",),
     "organization must be exactly"),
    (lambda: request_for("system:node:node-7", ["system:nodes"], san=True), ("client auth",),
     "subject alternative names"),
    (node_request, ("client auth", "server auth"), "usages must"),
])
def test_requests_that_are_no_kubelet_client_certificate_are_denied(request_text: object, usages: tuple[str, ...],
                                                                    why: str) -> None:
    assert callable(request_text)
    decision = decide(csr(request_text(), BOOTSTRAPPER, usages=usages))
    assert decision is not None and decision.type == "Denied" and why in decision.message


def test_a_decided_request_is_not_decided_again() -> None:
    done = csr(node_request(), BOOTSTRAPPER)
    done.status.conditions.append(CertificateSigningRequestCondition(type="Denied", reason="ByAdmin"))
    assert decide(done) is None


def signing_ca(days: int = 365) -> SigningCA:
    ca = create_ca("test-ca", now=NOW)
    return SigningCA(ca.cert.public_bytes(serialization.Encoding.PEM), ca.key, dt.timedelta(days=days))


def approved(request: CertificateSigningRequest) -> CertificateSigningRequest:
    request.status.conditions.append(CertificateSigningRequestCondition(type="Approved", reason="AutoApproved"))
    return request


def test_signer_issues_a_client_certificate_for_the_node_identity_only() -> None:
    request = approved(csr(node_request(), BOOTSTRAPPER))
    request.spec.expiration_seconds = 3600
    assert wants_signing(request)
    outcome = sign(request, signing_ca(), NOW)
    cert = x509.load_pem_x509_certificate(base64.b64decode(outcome.certificate))
    assert cert.subject.rfc4514_string() == "CN=system:node:node-7,O=system:nodes"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.not_valid_after_utc == NOW + dt.timedelta(hours=1)  # expirationSeconds shortens the duration


def test_signer_refuses_an_approved_masters_request() -> None:
    request = approved(csr(request_for("admin", ["system:masters"]), BOOTSTRAPPER))
    outcome = sign(request, signing_ca(), NOW)
    assert not outcome.certificate and "does not start with" in outcome.failure


def test_pending_or_issued_requests_are_not_signed() -> None:
    assert not wants_signing(csr(node_request(), BOOTSTRAPPER))
    issued = approved(csr(node_request(), BOOTSTRAPPER))
    issued.status.certificate = "eA=="
    assert not wants_signing(issued)


def serving(node: str, ips: tuple[str, ...], requester: tuple[str, list[str]] = NODE) -> CertificateSigningRequest:
    return csr(kubelet_client_request(node, new_key(), ips), requester, signer="kubernetes.io/kubelet-serving",
               usages=("digital signature", "server auth"))


def addresses(name: str) -> set[str] | None:
    return {"node-7": {"10.0.0.7"}}.get(name)


def test_a_node_gets_a_serving_certificate_for_its_own_registered_addresses_only() -> None:
    assert (d := decide(serving("node-7", ("10.0.0.7",)), addresses)) is not None and d.type == "Approved"
    assert decide(serving("node-7", ("10.0.0.8",)), addresses) is None  # an address it does not report
    assert decide(serving("node-7", ("10.0.0.7",)), lambda _n: None) is None  # not registered yet
    assert decide(serving("node-8", ("10.0.0.7",)), addresses) is None  # another node's certificate
    assert decide(serving("node-7", ("10.0.0.7",), BOOTSTRAPPER), addresses) is None  # tokens: client certs only
    denied = decide(csr(request_for("system:node:node-7", ["system:nodes"], san=True), NODE,
                        signer="kubernetes.io/kubelet-serving", usages=("server auth",)), addresses)
    assert denied is not None and denied.type == "Denied" and "at least one IP address" in denied.message


def test_signer_issues_a_serving_certificate_with_the_requested_names() -> None:
    outcome = sign(approved(serving("node-7", ("10.0.0.7",))), signing_ca(), NOW)
    cert = x509.load_pem_x509_certificate(base64.b64decode(outcome.certificate))
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == ["node-7"]
    assert [str(ip) for ip in alt.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH]


def test_cleaner_deletes_decided_requests_after_an_hour_pending_after_a_day_issued_at_expiry() -> None:
    pending = csr(node_request(), BOOTSTRAPPER)
    pending.metadata.creation_timestamp = "2026-12-06T08:00:00Z"
    assert expiry(pending) == NOW + dt.timedelta(hours=24)
    denied = csr(node_request(), BOOTSTRAPPER)
    denied.status.conditions.append(CertificateSigningRequestCondition(
        type="Denied", last_update_time="2026-12-06T09:00:00Z"))
    assert expiry(denied) == NOW + dt.timedelta(hours=2)
    issued = approved(csr(node_request(), BOOTSTRAPPER))
    issued.spec.expiration_seconds = 7200
    issued.status.certificate = sign(issued, signing_ca(), NOW).certificate
    assert expiry(issued) == NOW + dt.timedelta(hours=2)

"""certificates.k8s.io/v1 CertificateSigningRequest, and the facts about kubelet client certificates.

Why the requester fields are in the model but never trusted from a client:
`spec.username/uid/groups/extra` say who asked; the apiserver overwrites them
with the authenticated user on create (see apiserver/strategy/certificates.py),
which is what the approver decides on. Conditions `Approved`/`Denied` are set
only through the `approval` subresource, the certificate only through
`status`, once approved.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import TYPE_CHECKING

from pydantic import Field

from kubelite.api.base import KubeModel
from kubelite.api.meta import Resource

if TYPE_CHECKING:  # imported where used: every kctl run imports this module (the kind registry)
    from cryptography import x509  # but only CSR work needs cryptography (~40 ms to import)
    from cryptography.hazmat.primitives.asymmetric import ec

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBE_APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
KNOWN_SIGNERS = (KUBELET_CLIENT_SIGNER, KUBE_APISERVER_CLIENT_SIGNER, KUBELET_SERVING_SIGNER)
APPROVED = "Approved"
DENIED = "Denied"
FAILED = "Failed"
KEY_USAGES = ("signing", "digital signature", "content commitment", "key encipherment", "key agreement",
              "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
              "server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system",
              "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc")
KUBELET_CLIENT_USAGES = frozenset({"client auth", "digital signature", "key encipherment"})
KUBELET_SERVING_USAGES = frozenset({"server auth", "digital signature", "key encipherment"})
MIN_EXPIRATION_SECONDS = 600
NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"


class CertificateSigningRequestCondition(KubeModel):
    type: str
    status: str = "True"
    reason: str | None = None
    message: str | None = None
    last_update_time: str | None = None
    last_transition_time: str | None = None


class CertificateSigningRequestSpec(KubeModel):
    request: str = ""  # base64 of a PEM "CERTIFICATE REQUEST"
    signer_name: str = ""
    expiration_seconds: int | None = None
    usages: list[str] = Field(default_factory=list)
    username: str | None = None
    uid: str | None = None
    groups: list[str] = Field(default_factory=list)
    extra: dict[str, list[str]] = Field(default_factory=dict)


class CertificateSigningRequestStatus(KubeModel):
    conditions: list[CertificateSigningRequestCondition] = Field(default_factory=list)
    certificate: str | None = None  # base64 of PEM certificates


class CertificateSigningRequest(Resource):
    api_version: str = "certificates.k8s.io/v1"
    kind: str = "CertificateSigningRequest"
    spec: CertificateSigningRequestSpec = Field(default_factory=CertificateSigningRequestSpec)
    status: CertificateSigningRequestStatus = Field(default_factory=CertificateSigningRequestStatus)

    def condition(self, kind: str) -> CertificateSigningRequestCondition | None:
        return next((c for c in self.status.conditions if c.type == kind), None)

    @property
    def approved(self) -> bool:
        return self.condition(APPROVED) is not None and self.condition(DENIED) is None

    @property
    def finished(self) -> bool:
        """Issued, denied or failed: nothing more will happen to it."""
        return bool(self.status.certificate) or any(self.condition(t) for t in (DENIED, FAILED))


def decode_request(b64: str) -> x509.CertificateSigningRequest:
    """The PKCS#10 request of `spec.request` (base64 of PEM); ValueError says what is wrong."""
    from cryptography import x509

    try:
        pem = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("spec.request is not base64") from None
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError:
        raise ValueError("spec.request is not a PEM-encoded CERTIFICATE REQUEST") from None
    if not csr.is_signature_valid:
        raise ValueError("spec.request has an invalid signature")
    return csr


def subject_of(csr: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    """(CN, [O...]) of a request's subject."""
    from cryptography.x509.oid import NameOID

    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cns[0].value) if cns else ""), [str(o.value) for o in orgs]


def kubelet_client_request(node: str, key: ec.EllipticCurvePrivateKey, ips: tuple[str, ...] = ()) -> str:
    """`spec.request` for node `node`'s certificate: CN=system:node:<node>, O=system:nodes; with `ips`
    (a serving certificate) also the node name and those addresses as subject alternative names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
                      x509.NameAttribute(NameOID.COMMON_NAME, NODE_PREFIX + node)])
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    if ips:
        alt = [x509.DNSName(node), *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def alternative_names(csr: x509.CertificateSigningRequest) -> tuple[list[str], list[str], bool]:
    """(DNS names, IP addresses, whether any other kind -- email, URI -- is present) of a request."""
    from cryptography import x509

    try:
        alt = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], [], False
    dns = [str(n) for n in alt.get_values_for_type(x509.DNSName)]
    ips = [str(ip) for ip in alt.get_values_for_type(x509.IPAddress)]
    return dns, ips, len(dns) + len(ips) != len(list(alt))

"""Kubelet TLS bootstrap: get this node's client certificate with a bootstrap token, and renew it.

Why (Kubernetes' `--bootstrap-kubeconfig`): a machine joining over the
network holds no certificate the cluster made for it -- only a short-lived
bootstrap token. The kubelet generates its own key (which never leaves the
node), files a CertificateSigningRequest for `system:node:<name>` in
`system:nodes` as the token's identity, waits until the controller-manager
approved and signed it, and keeps the pair in its own certificate directory.
From then on it is `system:node:<name>`; before the certificate runs out
(after 70% of its lifetime, as Kubernetes' certificate manager) it files a
new request with the current certificate, which the approver grants to that
node only, and switches to the new pair.

These steps speak the HTTPS API (`kubelite.client.https`): the token and the
pre-bootstrap calls do not need the gRPC port's client certificates.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubelite.api import clusterinfo as ci
from kubelite.api.certificates import (
    KUBELET_CLIENT_SIGNER,
    KUBELET_SERVING_SIGNER,
    NODE_PREFIX,
    kubelet_client_request,
)
from kubelite.api.errors import ApiError
from kubelite.api.timeutil import utcnow
from kubelite.client.https import HttpsClient
from kubelite.client.tls import ClientTLS

log = logging.getLogger(__name__)

CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
RENEW_AT = 0.7
"""Fraction of a certificate's lifetime after which it is renewed."""
USAGES = ["digital signature", "client auth"]
SERVING_USAGES = ["digital signature", "server auth"]


class BootstrapError(RuntimeError):
    """The node cannot get a certificate (request denied or failed, no answer in time); the message says why."""


@dataclass(frozen=True)
class CertFiles:
    ca: Path
    cert: Path
    key: Path

    def tls(self) -> ClientTLS:
        return ClientTLS(str(self.ca), str(self.cert), str(self.key))


def renewal_time(cert: x509.Certificate) -> datetime:
    """When to renew: after RENEW_AT of the validity."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * RENEW_AT


def usable(cert: x509.Certificate, ca: x509.Certificate, node: str, now: datetime) -> bool:
    """Signed by the cluster CA, for this node, and within its validity."""
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not names or names[0].value != NODE_PREFIX + node:
        return False
    if not (cert.not_valid_before_utc <= now < cert.not_valid_after_utc):
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` atomically, created with `mode` (keys 0600)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class TlsBootstrap:
    """The node's client certificate in `cert_dir`, obtained and renewed through CSRs."""

    def __init__(self, node: str, cert_dir: Path, bootstrap_kubeconfig: Path, *, poll: float = 0.5,
                 timeout: float = 300.0, clock: Callable[[], datetime] = utcnow) -> None:
        self.node = node
        self.cert_dir = cert_dir
        try:
            self.cluster, self.token = ci.parse_bootstrap_kubeconfig(bootstrap_kubeconfig.read_text())
        except OSError as exc:
            raise BootstrapError(f"cannot read --bootstrap-kubeconfig {bootstrap_kubeconfig}: "
                                 f"{exc.strerror or exc}") from None
        except ci.ClusterInfoError as exc:
            raise BootstrapError(f"--bootstrap-kubeconfig {bootstrap_kubeconfig}: {exc}") from None
        self.ca = x509.load_pem_x509_certificate(self.cluster.ca_pem)
        self.files = CertFiles(cert_dir / "ca.crt", cert_dir / "kubelet-client.crt", cert_dir / "kubelet-client.key")
        self.poll = poll
        self.timeout = timeout
        self.clock = clock

    def current(self) -> x509.Certificate | None:
        """The stored certificate when it is usable now, else None."""
        try:
            cert = x509.load_pem_x509_certificate(self.files.cert.read_bytes())
            self.files.key.stat()
        except (OSError, ValueError):
            return None
        return cert if usable(cert, self.ca, self.node, self.clock()) else None

    async def ensure(self) -> CertFiles:
        """A usable certificate, bootstrapping one with the token when there is none."""
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        write_file(self.files.ca, self.cluster.ca_pem, 0o644)
        if self.current() is not None:
            log.info("using the stored client certificate", extra={"cert": str(self.files.cert)})
            return self.files
        log.info("no usable client certificate: bootstrapping with the token", extra={"node": self.node})
        await self.request(HttpsClient(self.cluster.server, self.cluster.ca_pem, token=self.token))
        return self.files

    async def request(self, client: HttpsClient, serving_ips: tuple[str, ...] = (),
                      files: CertFiles | None = None) -> x509.Certificate:
        """File a CSR as `client`'s identity, wait for the certificate, store it with its new key in
        `files` (default: the client pair). With `serving_ips`: a serving certificate for those
        addresses and the node name (signer kubelet-serving)."""
        files = files or self.files
        key = ec.generate_private_key(ec.SECP256R1())
        signer, usages = (KUBELET_SERVING_SIGNER, SERVING_USAGES) if serving_ips else (KUBELET_CLIENT_SIGNER, USAGES)
        body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                "metadata": {"generateName": "node-csr-"},
                "spec": {"request": kubelet_client_request(self.node, key, serving_ips), "signerName": signer,
                         "usages": usages}}
        created = await client.post(CSR_PATH, body)
        name = str(created.get("metadata", {}).get("name", ""))
        log.info("filed certificate signing request", extra={"csr": name, "node": self.node})
        pem = await self._wait_issued(client, name)
        cert = x509.load_pem_x509_certificate(pem)
        if not usable(cert, self.ca, self.node, self.clock()):
            raise BootstrapError(f"CSR {name}: the issued certificate is not for {NODE_PREFIX}{self.node} "
                                 "or not signed by the cluster CA")
        write_file(files.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()), 0o600)
        write_file(files.cert, pem, 0o644)
        log.info("stored new certificate", extra={"csr": name, "file": str(files.cert),
                                                  "expires": str(cert.not_valid_after_utc)})
        return cert

    async def _wait_issued(self, client: HttpsClient, name: str) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            csr = await client.get(f"{CSR_PATH}/{name}")
            status = csr.get("status") or {}
            for cond in status.get("conditions") or []:
                if cond.get("type") in ("Denied", "Failed"):
                    raise BootstrapError(f"CSR {name} was {cond['type'].lower()}: "
                                         f"{cond.get('reason', '')}: {cond.get('message', '')}")
            if status.get("certificate"):
                return base64.b64decode(status["certificate"])
            if loop.time() > deadline:
                raise BootstrapError(f"CSR {name} was not approved and signed within {self.timeout:.0f}s "
                                     "(is the controller-manager running csrapproving and csrsigning?)")
            await asyncio.sleep(self.poll)

    async def renew_forever(self, on_renewed: Callable[[CertFiles], None]) -> None:
        """Renew at RENEW_AT of each certificate's lifetime (as this node), retrying failures."""
        delay = 1.0
        while True:
            cert = x509.load_pem_x509_certificate(self.files.cert.read_bytes())
            wait = (renewal_time(cert) - self.clock()).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                client = HttpsClient(self.cluster.server, self.cluster.ca_pem, cert_file=str(self.files.cert),
                                     key_file=str(self.files.key))
                await self.request(client)
            except (ApiError, BootstrapError, OSError) as exc:
                log.warning("client certificate renewal failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            delay = 1.0
            on_renewed(self.files)

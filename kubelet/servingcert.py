"""The Kubelet API's serving certificate for a bootstrapped node: self-signed at first, then one from the CA.

Why: the apiserver reaches a kubelet's API (logs, exec) over TLS and checks
its certificate against the cluster CA for the node's address. A joined node
has no such certificate at first, so it serves a self-signed one (the API is
still closed: only cluster-CA client certificates of the apiserver are
admitted), then -- once its Node is registered with its addresses -- files a
`kubernetes.io/kubelet-serving` CSR as itself for its name and IP; the
approver grants exactly the addresses the Node reports. The gRPC server's
credentials are dynamic: each new handshake picks up a newly written pair, so
nothing restarts. Renewed, like the client certificate, at 70% of its
lifetime.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import cast

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubelet.tlsbootstrap import BootstrapError, CertFiles, TlsBootstrap, renewal_time, write_file
from kubelite.api.errors import ApiError
from kubelite.client.https import HttpsClient

log = logging.getLogger(__name__)


class ServingCertificate:
    def __init__(self, boot: TlsBootstrap, node_ip: str) -> None:
        self.boot = boot
        self.node_ip = node_ip
        cert_dir = boot.cert_dir
        self.issued = CertFiles(boot.files.ca, cert_dir / "kubelet-serving.crt", cert_dir / "kubelet-serving.key")
        self.self_signed = (cert_dir / "kubelet.crt", cert_dir / "kubelet.key")
        self._loaded: tuple[Path, float] | None = None

    def _issued_usable(self) -> x509.Certificate | None:
        try:
            cert = x509.load_pem_x509_certificate(self.issued.cert.read_bytes())
            self.issued.key.stat()
            cert.verify_directly_issued_by(self.boot.ca)
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            return None
        now = self.boot.clock()
        ips = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
        if self.node_ip not in ips or not (cert.not_valid_before_utc <= now < cert.not_valid_after_utc):
            return None
        return cert

    def _make_self_signed(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{self.boot.node}@kubelet")])
        now = self.boot.clock()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(now + timedelta(days=365))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(self.boot.node),
                                                            x509.IPAddress(ipaddress.ip_address(self.node_ip))]),
                               critical=False)
                .sign(key, hashes.SHA256()))
        write_file(self.self_signed[1], key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()), 0o600)
        write_file(self.self_signed[0], cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def _config(self) -> grpc.ServerCertificateConfiguration:
        if self._issued_usable() is not None:
            cert_file, key_file = self.issued.cert, self.issued.key
        else:
            if not self.self_signed[0].exists():
                self._make_self_signed()
            cert_file, key_file = self.self_signed
        self._loaded = (cert_file, cert_file.stat().st_mtime)
        return grpc.ssl_server_certificate_configuration([(key_file.read_bytes(), cert_file.read_bytes())],
                                                         root_certificates=self.boot.cluster.ca_pem)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by grpc on every new handshake: a new configuration only when a usable issued pair
        appeared or was renewed since the last load (None keeps the current one)."""
        try:
            if self._issued_usable() is None:
                return None
            if self._loaded == (self.issued.cert, self.issued.cert.stat().st_mtime):
                return None
            log.info("serving the CA-issued certificate", extra={"cert": str(self.issued.cert)})
            return self._config()
        except OSError:
            return None

    def credentials(self) -> grpc.ServerCredentials:
        """Mutual TLS for the Kubelet API: clients need a cluster-CA certificate; the serving pair follows
        the files (self-signed until the issued one exists)."""
        fetch = cast(Callable[[], grpc.ServerCertificateConfiguration], self._fetch)  # grpc accepts None: no change
        return grpc.dynamic_ssl_server_credentials(self._config(), fetch, require_client_authentication=True)

    async def keep_issued(self, registered: Callable[[], Awaitable[bool]]) -> None:
        """Obtain (once the Node is registered) and renew the CA-issued serving certificate, forever."""
        delay = 1.0
        while True:
            cert = self._issued_usable()
            if cert is not None:
                wait = (renewal_time(cert) - self.boot.clock()).total_seconds()
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                if not await registered():
                    await asyncio.sleep(1.0)
                    continue
                client = HttpsClient(self.boot.cluster.server, self.boot.cluster.ca_pem,
                                     cert_file=str(self.boot.files.cert), key_file=str(self.boot.files.key))
                await self.boot.request(client, (self.node_ip,), self.issued)
                delay = 1.0
            except (ApiError, BootstrapError, OSError) as exc:
                log.warning("serving certificate request failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

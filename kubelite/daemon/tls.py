"""TLS for the daemons' gRPC servers and their internal channels, and who a verified peer is.

Why here: every server (apiserver, kvstore client and peer ports, kubelet)
turns the same flags -- certificate, key, the CA that signs acceptable client
certificates -- into grpc credentials, and the apiserver and the kubelet both
need the verified client identity (CN = user, O = groups, as Kubernetes reads
a client certificate).

One limitation of grpc's Python API shapes the design: a server either
requires and verifies a client certificate or never asks for one (there is
no "request, verify if sent" mode). So a server that wants identities from
certificates must require them; a listener for clients without one (the
apiserver's `--listen-without-client-cert`, for bearer tokens) is a separate
port, and there a client is anonymous at the TLS level.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


class TLSConfigError(ValueError):
    """TLS flags that cannot work together, or files that cannot be read; the message says which."""


def read_file(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def server_credentials(cert_file: str | Path, key_file: str | Path, client_ca_file: str | Path | None = None
                       ) -> grpc.ServerCredentials:
    """Serving credentials; with `client_ca_file`, clients must present a certificate that CA signed."""
    pair = (read_file(key_file, "TLS key"), read_file(cert_file, "TLS certificate"))
    if client_ca_file is None:
        return grpc.ssl_server_credentials([pair])
    return grpc.ssl_server_credentials([pair], root_certificates=read_file(client_ca_file, "client CA"),
                                       require_client_auth=True)


def channel_credentials(ca_file: str | Path, cert_file: str | Path | None = None,
                        key_file: str | Path | None = None) -> grpc.ChannelCredentials:
    """Client credentials trusting only `ca_file`, presenting `cert_file`/`key_file` when given."""
    if (cert_file is None) != (key_file is None):
        raise TLSConfigError("a client certificate needs its key and a key its certificate")
    return grpc.ssl_channel_credentials(
        read_file(ca_file, "CA certificate"),
        read_file(key_file, "client key") if key_file is not None else None,
        read_file(cert_file, "client certificate") if cert_file is not None else None,
    )


def add_serving_flags(p: argparse.ArgumentParser, what: str) -> None:
    """Kubernetes' serving flags: `--tls-cert-file`, `--tls-private-key-file`, `--client-ca-file`."""
    p.add_argument("--tls-cert-file", default=None, help=f"serve {what} over TLS with this certificate (PEM)")
    p.add_argument("--tls-private-key-file", default=None, help="the key of --tls-cert-file (PEM)")
    p.add_argument("--client-ca-file", default=None,
                   help="require client certificates signed by this CA (the CN/O become the caller's identity)")


def serving_from_args(args: argparse.Namespace) -> grpc.ServerCredentials | None:
    """The credentials `add_serving_flags` describe; None (plaintext) when no certificate was given."""
    cert, key, ca = args.tls_cert_file, args.tls_private_key_file, args.client_ca_file
    if cert is None and key is None:
        if ca is not None:
            raise TLSConfigError("--client-ca-file needs --tls-cert-file and --tls-private-key-file")
        return None
    if cert is None or key is None:
        raise TLSConfigError("--tls-cert-file and --tls-private-key-file go together")
    return server_credentials(cert, key, ca)


def bind(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    """Listen on `address` with TLS when `credentials`, else plaintext; 0 when it cannot be bound."""
    try:
        if credentials is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, credentials)
    except RuntimeError:  # grpc reports a taken or invalid address this way
        return 0


@dataclass(frozen=True)
class PeerIdentity:
    """The verified client certificate of a call: Kubernetes user (CN) and groups (O)."""

    user: str
    groups: tuple[str, ...] = ()


@functools.lru_cache(maxsize=256)
def identity_from_pem(pem: bytes) -> PeerIdentity | None:
    """CN and O of a PEM certificate (None when it cannot be parsed or has no CN).

    cryptography is imported on the first call: a daemon that serves without client
    certificates, or is rarely called (a kubelet in `up`), does not carry it (~8 MB RSS).
    Cached by the certificate's bytes (a pure function of them; the chain was verified by
    grpc at the handshake): the apiserver saw the same few client certificates on every
    call and parsed each again (~4 % of an idle apiserver's CPU, more per create)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns:
        return None
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return PeerIdentity(str(cns[0].value), tuple(str(o.value) for o in orgs))


def identity_from_auth_context(auth: Mapping[str, Iterable[bytes]]) -> PeerIdentity | None:
    """The identity in a grpc auth context; None for plaintext or a TLS client without a certificate.

    grpc only fills `x509_pem_cert` after it verified the chain against the
    server's client CA, so what this returns is authenticated.
    """
    pem = next(iter(auth.get("x509_pem_cert") or ()), None)
    return identity_from_pem(bytes(pem)) if pem else None


def peer_identity(context: grpc.aio.ServicerContext[Any, Any]) -> PeerIdentity | None:
    """`identity_from_auth_context` of the calling client."""
    return identity_from_auth_context(context.auth_context())

"""Client-side TLS of everything that talks to the apiserver: flags and channel credentials.

Why in the client library: the scheduler, the controller-manager, kubelets,
proxies, the DNS and kctl all reach the apiserver through `ApiClient`, and
all of them need the same three things -- the CA that signed the apiserver's
certificate, and their own certificate and key (their identity).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import grpc


class ClientTLSError(ValueError):
    """Client TLS settings that cannot work; the message says which file or flag."""


@dataclass(frozen=True)
class ClientTLS:
    """Paths of the apiserver's CA and of this client's certificate and key (all PEM)."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.cert_file is None) != (self.key_file is None):
            raise ClientTLSError("a client certificate needs its key and a key its certificate")
        return grpc.ssl_channel_credentials(
            _read(self.ca_file, "CA certificate"),
            _read(self.key_file, "client key") if self.key_file else None,
            _read(self.cert_file, "client certificate") if self.cert_file else None,
        )


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ClientTLSError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def add_client_flags(p: argparse.ArgumentParser) -> None:
    """`--cacert`, `--cert`, `--key` (etcdctl's names) for a daemon talking to the apiserver."""
    p.add_argument("--cacert", default=None, help="talk TLS to the apiserver, trusting this CA (PEM)")
    p.add_argument("--cert", default=None, help="client certificate (PEM): who this component is")
    p.add_argument("--key", default=None, help="the key of --cert (PEM)")


def tls_from_args(args: argparse.Namespace) -> ClientTLS | None:
    """The settings `add_client_flags` describe; None (plaintext) when no --cacert was given."""
    if args.cacert is None:
        if args.cert is not None or args.key is not None:
            raise ClientTLSError("--cert/--key need --cacert (the CA of the apiserver's certificate)")
        return None
    return ClientTLS(args.cacert, args.cert, args.key)


def credentials_from_args(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    tls = tls_from_args(args)
    return tls.credentials() if tls is not None else None


def with_credentials(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse `argv` and set `args.credentials` from the client flags (a bad flag or file is a usage error)."""
    args = p.parse_args(argv)
    try:
        args.credentials = credentials_from_args(args)
    except ClientTLSError as exc:
        p.error(str(exc))
    return args

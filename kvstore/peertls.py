"""A member's peer TLS, loaded once from etcd's --peer-* files into the forms its two peer links need.

Why one object: members talk over the gRPC peer service (snapshots, leases,
the member table) and over the Raft stream (`kvstore.raftstream`, plain
asyncio). Both must authenticate exactly alike -- show this member's peer
certificate, trust only the peer CA, and (with --peer-client-cert-auth) refuse
a caller without a certificate that CA signed -- so both are built here from
the same files and travel together; a member cannot end up with TLS on one
link and plaintext on the other.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from kubelite.daemon.tls import TLSConfigError, channel_credentials, server_credentials


@dataclass(frozen=True)
class PeerTLS:
    """Serving and dialing credentials of the peer port (gRPC) and the Raft stream (ssl)."""

    server_credentials: grpc.ServerCredentials
    channel_credentials: grpc.ChannelCredentials
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext


def _context(purpose: ssl.Purpose, cert_file: str | Path, key_file: str | Path, ca_file: str | Path
             ) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(purpose, cafile=str(ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"cannot load peer TLS ({cert_file}, {key_file}, CA {ca_file}): {exc}") from None
    return context


def load_peer_tls(cert_file: str | Path, key_file: str | Path, ca_file: str | Path,
                  client_cert_auth: bool) -> PeerTLS:
    """Peer TLS from etcd's --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth.

    Dialing always verifies the other member's certificate against `ca_file`
    and the host of its peer URL; serving requires a client certificate of
    `ca_file` only with `client_cert_auth` (etcd's meaning of the flag).
    """
    server = _context(ssl.Purpose.CLIENT_AUTH, cert_file, key_file, ca_file)
    server.verify_mode = ssl.CERT_REQUIRED if client_cert_auth else ssl.CERT_NONE
    client = _context(ssl.Purpose.SERVER_AUTH, cert_file, key_file, ca_file)
    return PeerTLS(
        server_credentials=server_credentials(cert_file, key_file, ca_file if client_cert_auth else None),
        channel_credentials=channel_credentials(ca_file, cert_file, key_file),
        server_context=server,
        client_context=client,
    )

"""Serving credentials and the verified peer identity (CN = user, O = groups) a server sees."""

from __future__ import annotations

import argparse
from pathlib import Path

import grpc
import grpc.aio
import pytest

from kubelite.daemon.tls import (
    PeerIdentity,
    TLSConfigError,
    add_serving_flags,
    identity_from_auth_context,
    peer_identity,
    server_credentials,
    serving_from_args,
)
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, key_path


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    pki.ensure(d, pki.cluster_specs([], [("node-1", "127.0.0.11")]))
    return d


def test_identity_from_auth_context(pki_dir: Path) -> None:
    pem = cert_path(pki_dir, "kubelet-client-node-1").read_bytes()
    assert identity_from_auth_context({"x509_pem_cert": [pem], "transport_security_type": [b"ssl"]}) == \
        PeerIdentity("system:node:node-1", ("system:nodes",))
    assert identity_from_auth_context({"transport_security_type": [b"ssl"]}) is None  # TLS without a cert
    assert identity_from_auth_context({}) is None  # plaintext
    assert identity_from_auth_context({"x509_pem_cert": [b"garbage"]}) is None


def test_serving_flags() -> None:
    p = argparse.ArgumentParser()
    add_serving_flags(p, "x")
    assert serving_from_args(p.parse_args([])) is None
    with pytest.raises(TLSConfigError):
        serving_from_args(p.parse_args(["--client-ca-file", "ca.crt"]))
    with pytest.raises(TLSConfigError):
        serving_from_args(p.parse_args(["--tls-cert-file", "a.crt"]))
    with pytest.raises(TLSConfigError, match="cannot read"):
        serving_from_args(p.parse_args(["--tls-cert-file", "/nonexistent.crt", "--tls-private-key-file", "k"]))


async def test_a_mutual_tls_server_sees_the_clients_identity(pki_dir: Path) -> None:
    seen: list[PeerIdentity | None] = []

    async def echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        seen.append(peer_identity(context))
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "t.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    creds = server_credentials(cert_path(pki_dir, "apiserver"), key_path(pki_dir, "apiserver"),
                               cert_path(pki_dir, "ca"))
    port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    ca = cert_path(pki_dir, "ca").read_bytes()
    try:
        admin = grpc.ssl_channel_credentials(ca, key_path(pki_dir, "admin").read_bytes(),
                                             cert_path(pki_dir, "admin").read_bytes())
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", admin) as ch:
            assert await ch.unary_unary("/t.Echo/Echo")(b"hi", timeout=5) == b"hi"
        assert seen == [PeerIdentity("kubernetes-admin", ("system:masters",))]
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", grpc.ssl_channel_credentials(ca)) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await ch.unary_unary("/t.Echo/Echo")(b"hi", timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake refuses it
        assert len(seen) == 1
    finally:
        await server.stop(None)

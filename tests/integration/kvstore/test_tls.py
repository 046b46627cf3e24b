"""The kvstore over TLS with etcd's flags: three `kubelite kvstore` processes whose client port
requires certificates of the kvstore CA and whose members talk mutual TLS to each other;
the real `etcdctl` works with the apiserver's storage certificate and is refused without one."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kubelite.pb.kubelite import raftpb_pb2, raftpb_pb2_grpc
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, key_path
from kvstore.raft.types import Message, MsgType
from kvstore.raftstream import encode_frame, raft_address
from kvstore.transport import batch_to_pb
from tests.integration.kvstore.kvproc import KVCluster

pytestmark = pytest.mark.integration

ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"
if not os.path.exists(ETCDCTL):
    pytest.skip("etcdctl is not installed (apt-get install -y etcd-client)", allow_module_level=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, certs: Path) -> Iterator[KVCluster]:
    c = KVCluster(tmp_path_factory.mktemp("kvtls"), 3, *pki.kvstore_flags(certs))
    c.peer_urls = {n: u.replace("http://", "https://") for n, u in c.peer_urls.items()}
    for member in c.members.values():  # peer URLs say https, as etcd's do under peer TLS
        i = member.extra.index("--initial-cluster")
        member.extra[i + 1] = c.initial_cluster()
    try:
        yield c.start()
    finally:
        c.cleanup()


def etcdctl(cluster: KVCluster, *args: str, tls: list[str], command_timeout: str = "5s") -> subprocess.CompletedProcess[str]:
    endpoints = ",".join(f"https://{e}" for e in cluster.endpoints)
    return subprocess.run([ETCDCTL, "--endpoints", endpoints, "--dial-timeout", "3s", "--command-timeout",
                           command_timeout, *tls, *args], capture_output=True, text=True,
                          env={**os.environ, "ETCDCTL_API": "3"}, timeout=30)


# A refused etcdctl retries until its command timeout, so the refusal tests give it a short one: a
# client on loopback that is let in answers in milliseconds, far inside it.
REFUSED_COMMAND_TIMEOUT = "2s"


def client_tls(certs: Path, name: str = "apiserver-etcd-client", ca: str = pki.KVSTORE_CA) -> list[str]:
    return ["--cacert", str(cert_path(certs, ca)), "--cert", str(cert_path(certs, name)),
            "--key", str(key_path(certs, name))]


def test_etcdctl_with_a_kvstore_client_certificate_reads_and_writes(cluster: KVCluster, certs: Path) -> None:
    put = etcdctl(cluster, "put", "/tls/a", "1", tls=client_tls(certs))
    assert put.returncode == 0 and put.stdout.strip() == "OK", put.stderr
    # Replicated through the members' mutual-TLS peer links: every member serves it linearizably.
    for endpoint in cluster.endpoints:
        got = subprocess.run([ETCDCTL, "--endpoints", f"https://{endpoint}", *client_tls(certs),
                              "get", "/tls/a", "--print-value-only"], capture_output=True, text=True,
                             env={**os.environ, "ETCDCTL_API": "3"}, timeout=30)
        assert got.stdout.strip() == "1", got.stderr
    health = etcdctl(cluster, "endpoint", "health", tls=client_tls(certs))
    assert health.returncode == 0 and health.stderr.count("is healthy") == 3, health.stderr


@pytest.mark.parametrize("how", ["no client certificate", "a cluster-CA certificate", "plaintext"])
def test_etcdctl_without_a_kvstore_certificate_is_refused(cluster: KVCluster, certs: Path, how: str) -> None:
    if how == "no client certificate":
        tls = ["--cacert", str(cert_path(certs, pki.KVSTORE_CA))]
    elif how == "a cluster-CA certificate":  # the admin may use the API, never the store directly
        tls = [*client_tls(certs, "admin"), "--cacert", str(cert_path(certs, pki.KVSTORE_CA))]
    else:
        tls = []
    if how == "plaintext":
        endpoints = ",".join(f"http://{e}" for e in cluster.endpoints)
        res = subprocess.run([ETCDCTL, "--endpoints", endpoints, "--dial-timeout", "2s", "--command-timeout",
                              REFUSED_COMMAND_TIMEOUT, "get", "/tls/a"], capture_output=True, text=True,
                             env={**os.environ, "ETCDCTL_API": "3"}, timeout=30)
    else:
        res = etcdctl(cluster, "get", "/tls/a", tls=tls, command_timeout=REFUSED_COMMAND_TIMEOUT)
    assert res.returncode != 0
    assert "/tls/a" not in res.stdout


async def test_the_peer_port_refuses_a_client_without_a_peer_certificate(cluster: KVCluster, certs: Path) -> None:
    target = cluster.peer_urls["kv-1"].removeprefix("https://")
    ca = cert_path(certs, pki.KVSTORE_CA).read_bytes()
    async with grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(ca)) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await raftpb_pb2_grpc.PeerStub(ch).Members(raftpb_pb2.MembersRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    peer = grpc.ssl_channel_credentials(ca, key_path(certs, "etcd/peer").read_bytes(),
                                        cert_path(certs, "etcd/peer").read_bytes())
    async with grpc.aio.secure_channel(target, peer) as ch:
        members = await raftpb_pb2_grpc.PeerStub(ch).Members(raftpb_pb2.MembersRequest(), timeout=5)
    assert len(members.members) == 3


async def test_the_raft_stream_port_refuses_anything_but_a_peer_certificate(cluster: KVCluster, certs: Path) -> None:
    """The members' Raft stream (peer port + 2) is TLS with the same rule as the peer port: a
    plaintext frame or a TLS client without a kvstore peer certificate gets the connection closed,
    and the cluster goes on replicating."""
    host, port = raft_address(cluster.peer_urls["kv-1"])
    no_cert = ssl.create_default_context(cafile=str(cert_path(certs, pki.KVSTORE_CA)))
    for context in (None, no_cert):
        reader, writer = await asyncio.open_connection(host, port, ssl=context,
                                                       server_hostname=host if context else None)
        writer.write(encode_frame(batch_to_pb(0, 2, [Message(MsgType.HEARTBEAT, to=1, frm=2, term=99)])
                                  .SerializeToString()))
        try:  # closed by the member (an accepted connection would stay open: a timeout here)
            assert await asyncio.wait_for(reader.read(), 10) == b""
        except (ssl.SSLError, ConnectionResetError):
            pass
        writer.close()
    put = etcdctl(cluster, "put", "/tls/after-intruders", "2", tls=client_tls(certs))
    assert put.returncode == 0, put.stderr

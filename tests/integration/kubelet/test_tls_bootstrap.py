"""`kubelite kubelet --bootstrap-kubeconfig`: a kubelet with only a bootstrap token gets its own certificate.

The real daemon against a TLS-only control plane: it files a CSR with the
token, the controllers approve and sign it, the kubelet stores key and
certificate in its own data directory and registers its Node as
`system:node:<name>`; restarted without the token it keeps using the stored
certificate; a kubelet whose token is gone and that has no certificate
stops with a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from kubelet.tlsbootstrap import TlsBootstrap
from kubelite.api import Node, Secret
from kubelite.api import bootstraptoken as bt
from kubelite.api import clusterinfo as ci
from kubelite.api.certificates import CertificateSigningRequest
from kubelite.api.timeutil import utcnow
from kubelite.pb.kubelite import api_pb2, api_pb2_grpc
from kubelite.pki.certs import cert_path, key_path
from kubelite.procs import http_get_status
from tests.integration.bootstrapplane import TOKEN, Plane, create_token, running_plane
from tests.polling import eventually

pytestmark = pytest.mark.integration

NODE_IP = "127.0.0.13"
NODE = "boot-node"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[Plane]:
    async with running_plane(tmp_path) as p:
        yield p


def bootstrap_kubeconfig(plane: Plane) -> Path:
    info = ci.ClusterInfo(plane.server.http.url, Path(plane.ca_file).read_bytes(), plane.server.endpoint)
    path = plane.tmp / "bootstrap-kubelet.conf"
    path.write_text(ci.bootstrap_kubeconfig(info, TOKEN))
    return path


async def start_kubelet(plane: Plane, data_dir: Path, health: str, listen: str = "") -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubelite.main", "kubelet", "--bootstrap-kubeconfig", str(bootstrap_kubeconfig(plane)),
        "--node-name", NODE, "--node-ip", NODE_IP, "--listen", listen or f"{NODE_IP}:{free_port(NODE_IP)}",
        "--listen-health", health, "--data-dir", str(data_dir), "--runtime", "process",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def kubelet_exec(target: str, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    channel = (grpc.aio.secure_channel(target, credentials) if credentials is not None
               else grpc.aio.insecure_channel(target))
    async with channel:
        stub = api_pb2_grpc.KubeletStub(channel)

        async def requests() -> AsyncIterator[api_pb2.ExecRequest]:
            yield api_pb2.ExecRequest(start=api_pb2.ExecStart(namespace="default", name="web", command=["id"]))

        try:
            _ = [r async for r in stub.Exec(requests(), timeout=5)]
        except grpc.aio.AioRpcError as err:
            return err.code()
    return grpc.StatusCode.OK


async def stop(proc: asyncio.subprocess.Process) -> bytes:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    return stderr


async def test_kubelet_bootstraps_its_identity_and_keeps_it(plane: Plane, tmp_path: Path) -> None:
    await create_token(plane.admin)
    data_dir = tmp_path / "node"
    health = f"{NODE_IP}:{free_port(NODE_IP)}"
    listen = f"{NODE_IP}:{free_port(NODE_IP)}"
    proc = await start_kubelet(plane, data_dir, health, listen)
    try:
        async def ready() -> bool:
            if proc.returncode is not None:
                raise AssertionError((await proc.communicate())[1].decode()[-3000:])
            return await http_get_status(health, "/readyz") == 200

        await eventually(ready, "the bootstrapped kubelet to be ready", timeout=60)
        await plane.admin.get(Node, NODE, "")  # registered under its own identity (the Node authorizer allowed it)
        cert = x509.load_pem_x509_certificate((data_dir / "pki" / "kubelet-client.crt").read_bytes())
        assert cert.subject.rfc4514_string() == f"CN=system:node:{NODE},O=system:nodes"
        assert stat.S_IMODE((data_dir / "pki" / "kubelet-client.key").stat().st_mode) == 0o600
        csrs = (await plane.admin.list(CertificateSigningRequest)).items
        client_csrs = [c for c in csrs if c.spec.signer_name == "kubernetes.io/kube-apiserver-client-kubelet"]
        assert len(client_csrs) == 1 and client_csrs[0].spec.username == "system:bootstrap:abcdef"
        assert client_csrs[0].approved
        # its Kubelet API (exec!) admits only cluster-CA client certificates of the apiserver
        self_signed = (data_dir / "pki" / "kubelet.crt").read_bytes()
        assert await kubelet_exec(listen, None) == grpc.StatusCode.UNAVAILABLE
        assert await kubelet_exec(listen, grpc.ssl_channel_credentials(self_signed)) == grpc.StatusCode.UNAVAILABLE
        # once registered, the node gets a CA-issued serving certificate for its address and serves it
        ca = Path(plane.ca_file).read_bytes()
        admin_tls = grpc.ssl_channel_credentials(ca, key_path(plane.certs, "admin").read_bytes(),
                                                 cert_path(plane.certs, "admin").read_bytes())

        async def verified() -> bool:  # TLS verified against the cluster CA for NODE_IP; admin is not allowed
            return await kubelet_exec(listen, admin_tls) == grpc.StatusCode.PERMISSION_DENIED

        await eventually(verified, "the kubelet to serve a CA-issued certificate", timeout=30)
        serving = x509.load_pem_x509_certificate((data_dir / "pki" / "kubelet-serving.crt").read_bytes())
        assert [str(ip) for ip in serving.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)] == [NODE_IP]
        kubelet_tls = grpc.ssl_channel_credentials(ca, key_path(plane.certs, "apiserver-kubelet-client").read_bytes(),
                                                   cert_path(plane.certs, "apiserver-kubelet-client").read_bytes())
        assert await kubelet_exec(listen, kubelet_tls) not in (grpc.StatusCode.UNAVAILABLE,
                                                               grpc.StatusCode.PERMISSION_DENIED)
        stderr = await stop(proc)
        assert proc.returncode == 0 and b"Traceback" not in stderr, stderr.decode()[-3000:]

        # the token is gone: the stored certificate is enough
        await plane.admin.delete(Secret, bt.secret_name("abcdef"), bt.NAMESPACE)
        proc = await start_kubelet(plane, data_dir, health)
        await eventually(ready, "the kubelet to restart on its stored certificate", timeout=60)
        after = (await plane.admin.list(CertificateSigningRequest)).items
        assert sorted(c.spec.signer_name for c in after) == ["kubernetes.io/kube-apiserver-client-kubelet",
                                                             "kubernetes.io/kubelet-serving"]  # no new request
        stderr = await stop(proc)
        assert proc.returncode == 0, stderr.decode()[-3000:]

        # a fresh node with a deleted token and no certificate: a clear error, no traceback
        proc = await start_kubelet(plane, tmp_path / "other-node", f"{NODE_IP}:{free_port(NODE_IP)}")
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1 and b"TLS bootstrap failed" in stderr and b"Unauthorized" in stderr
        assert b"Traceback" not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_certificate_is_renewed_as_the_node_itself(plane: Plane, tmp_path: Path) -> None:
    await create_token(plane.admin)
    boot = TlsBootstrap(NODE, tmp_path / "pki", bootstrap_kubeconfig(plane), poll=0.05)
    files = await boot.ensure()
    first = x509.load_pem_x509_certificate(files.cert.read_bytes())
    # 300 days later (past 70% of the one-year certificate): renew with the current certificate
    boot.clock = lambda: utcnow() + dt.timedelta(days=300)
    renewed = asyncio.Event()
    task = asyncio.create_task(boot.renew_forever(lambda _files: renewed.set()))
    try:
        await asyncio.wait_for(renewed.wait(), 30)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    second = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert second.serial_number != first.serial_number
    assert second.subject == first.subject
    requesters = sorted(c.spec.username or "" for c in (await plane.admin.list(CertificateSigningRequest)).items)
    assert requesters == ["system:bootstrap:abcdef", f"system:node:{NODE}"]

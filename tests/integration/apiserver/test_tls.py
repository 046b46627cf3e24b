"""TLS on every link of the control plane, in-process: kvstore (client certificates of the kvstore
CA), apiserver (client certificates of the cluster CA; the verified identity reaches the layers
below the servicer) and the kubelet API (only `apiserver-kubelet-client` may read logs or exec)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from apiserver.peer import current_peer
from apiserver.server import ApiServer
from kubelet.server import API_USERS, KubeletServer
from kubelite.api import Namespace
from kubelite.api.errors import NotFound, ServiceUnavailable
from kubelite.client import ApiClient, ClientTLS
from kubelite.daemon.tls import PeerIdentity, channel_credentials, server_credentials
from kubelite.pb.kubelite import api_pb2, api_pb2_grpc
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, key_path
from kvstore.server import KVStore
from tests.integration.apiserver.test_logs import node, pod

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    pki.ensure(d, pki.cluster_specs([], [("node-1", "127.0.0.1")]))
    return d


def client_creds(certs: Path, name: str | None) -> grpc.ChannelCredentials:
    ca = str(cert_path(certs, pki.CLUSTER_CA))
    if name is None:
        return ClientTLS(ca).credentials()
    return ClientTLS(ca, str(cert_path(certs, name)), str(key_path(certs, name))).credentials()


def pair(certs: Path, name: str) -> tuple[Path, Path]:
    return cert_path(certs, name), key_path(certs, name)


@pytest.fixture
async def kubelet(tmp_path: Path, certs: Path) -> AsyncIterator[KubeletServer]:
    async def inactive(path: Path) -> bool:
        return False

    server = KubeletServer("127.0.0.1:0", tmp_path / "node", inactive,
                           credentials=server_credentials(*pair(certs, "kubelet-node-1"),
                                                          cert_path(certs, pki.CLUSTER_CA)),
                           allowed_users=API_USERS)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def apiserver(tmp_path: Path, certs: Path) -> AsyncIterator[tuple[ApiServer, list[PeerIdentity | None]]]:
    kv = KVStore(tmp_path / "kv", "127.0.0.1:0", client_credentials=server_credentials(
        *pair(certs, "etcd/server"), cert_path(certs, pki.KVSTORE_CA)))
    await kv.start()
    kv_ca = cert_path(certs, pki.KVSTORE_CA)
    ca = cert_path(certs, pki.CLUSTER_CA)
    api = ApiServer(
        [f"https://{kv.endpoint}"], "127.0.0.1:0",
        credentials=server_credentials(*pair(certs, "apiserver"), ca),
        etcd_credentials=channel_credentials(kv_ca, *pair(certs, "apiserver-etcd-client")),
        kubelet_credentials=channel_credentials(ca, *pair(certs, "apiserver-kubelet-client")),
        listen_without_client_cert="127.0.0.1:0",
        credentials_without_client_cert=server_credentials(*pair(certs, "apiserver")),
    )
    seen: list[PeerIdentity | None] = []
    list_objects = api.handler.List

    async def observed_list(request: api_pb2.ListRequest) -> Any:
        seen.append(current_peer())  # what the layers below the servicer see of the caller
        return await list_objects(request)

    api.handler.List = observed_list  # type: ignore[method-assign]
    try:
        await api.start(timeout=20)
        yield api, seen
    finally:
        await api.stop()
        await kv.stop()


async def test_apiserver_serves_tls_and_reports_the_verified_identity(
    apiserver: tuple[ApiServer, list[PeerIdentity | None]], certs: Path,
) -> None:
    api, seen = apiserver
    async with ApiClient.connect(api.endpoint, credentials=client_creds(certs, "admin")) as admin:
        names = {n.metadata.name for n in (await admin.list(Namespace)).items}
    assert {"default", "kube-system"} <= names  # created through the TLS link to the kvstore
    assert seen[-1] == PeerIdentity("kubernetes-admin", ("system:masters",))
    async with ApiClient.connect(api.endpoint, credentials=client_creds(certs, "kubelet-client-node-1")) as kubelet:
        await kubelet.list(Namespace)
    assert seen[-1] == PeerIdentity("system:node:node-1", ("system:nodes",))
    # The listener without client certificates: TLS, but the caller is anonymous at that level.
    anonymous_at = f"127.0.0.1:{api.port_without_client_cert}"
    async with ApiClient.connect(anonymous_at, credentials=client_creds(certs, None)) as anonymous:
        await anonymous.list(Namespace)
    assert seen[-1] is None


@pytest.mark.parametrize("how", ["no client certificate", "plaintext", "a kvstore-CA certificate"])
async def test_apiserver_refuses_clients_without_a_cluster_certificate(
    apiserver: tuple[ApiServer, list[PeerIdentity | None]], certs: Path, how: str,
) -> None:
    api, seen = apiserver
    if how == "plaintext":
        credentials = None
    elif how == "no client certificate":
        credentials = client_creds(certs, None)
    else:
        credentials = ClientTLS(str(cert_path(certs, pki.CLUSTER_CA)), *map(str, pair(certs, "apiserver-etcd-client"))
                                ).credentials()
    async with ApiClient.connect(api.endpoint, credentials=credentials, timeout=5) as client:
        with pytest.raises(ServiceUnavailable):
            await client.list(Namespace)
    assert seen == []


async def test_the_apiserver_reaches_the_kubelet_as_its_kubelet_client(
    apiserver: tuple[ApiServer, list[PeerIdentity | None]], kubelet: KubeletServer, certs: Path,
) -> None:
    api, _ = apiserver
    async with ApiClient.connect(api.endpoint, credentials=client_creds(certs, "admin")) as c:
        await c.create(node("n1", kubelet.port))
        await c.create(pod("web", "main"))
        await c.bind("default", "web", "n1")
        # Mutual TLS passed and the kubelet authorized the apiserver: the answer is the kubelet's own.
        with pytest.raises(NotFound, match="no containers on this node"):
            _ = [chunk async for chunk in c.logs("default", "web")]


async def _kubelet_call(kubelet: KubeletServer, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    target = f"127.0.0.1:{kubelet.port}"
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


@pytest.mark.parametrize(("who", "code"), [
    ("no client certificate", grpc.StatusCode.UNAVAILABLE),  # refused in the TLS handshake
    ("plaintext", grpc.StatusCode.UNAVAILABLE),
    ("admin", grpc.StatusCode.PERMISSION_DENIED),  # a valid identity, but not the apiserver's
    ("kubelet-client-node-1", grpc.StatusCode.PERMISSION_DENIED),
    ("apiserver-kubelet-client", grpc.StatusCode.INVALID_ARGUMENT),  # admitted: "exec is not supported"
])
async def test_kubelet_exec_port_admits_only_the_apiserver(
    kubelet: KubeletServer, certs: Path, who: str, code: grpc.StatusCode,
) -> None:
    if who == "plaintext":
        credentials = None
    else:
        credentials = client_creds(certs, None if who == "no client certificate" else who)
    assert await _kubelet_call(kubelet, credentials) == code

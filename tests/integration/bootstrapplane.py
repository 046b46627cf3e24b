"""A control plane for TLS-bootstrap tests: TLS everywhere, Node,RBAC, bootstrap tokens, the CSR controllers.

Like `kubelite up`'s: the gRPC port requires a cluster-CA client certificate,
a second gRPC listener takes bearer tokens (what a joining node has), the
HTTPS API asks for but does not require a certificate, and the
controller-manager's tokencleaner, bootstrapsigner, csrapproving and
csrsigning run in-process as `system:kube-controller-manager` (its real RBAC
role) with the cluster CA as signer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from apiserver.access import AccessOptions
from apiserver.http import server_ssl_context
from apiserver.server import ApiServer
from controllers.certificates.signplan import load_signing_ca
from controllers.manager import ControllerManager
from kubelite.api import bootstraptoken as bt
from kubelite.api.timeutil import utcnow
from kubelite.client import ApiClient
from kubelite.client.tls import ClientTLS
from kubelite.daemon.tls import server_credentials
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, key_path
from tests.integration.kvstore.kvproc import KVProcess

TOKEN = "abcdef.0123456789abcdef"
CONTROLLERS = ["tokencleaner", "bootstrapsigner", "csrapproving", "csrsigning"]


@dataclass
class Plane:
    server: ApiServer
    certs: Path
    admin: ApiClient
    tmp: Path

    @property
    def ca_file(self) -> str:
        return str(cert_path(self.certs, pki.CLUSTER_CA))

    @property
    def token_endpoint(self) -> str:
        return f"127.0.0.1:{self.server.port_without_client_cert}"

    def client(self, who: str) -> ApiClient:
        """A gRPC client with the PKI's certificate `who` (admin, controller-manager, ...)."""
        tls = ClientTLS(self.ca_file, str(cert_path(self.certs, who)), str(key_path(self.certs, who)))
        return ApiClient.connect(self.server.endpoint, credentials=tls.credentials())

    def token_client(self, token: str) -> ApiClient:
        """A gRPC client authenticating with a bearer token (TLS trusting the cluster CA)."""
        return ApiClient.connect(self.token_endpoint, token=token, credentials=ClientTLS(self.ca_file).credentials())


async def create_token(admin: ApiClient, token: str = TOKEN, *, now: dt.datetime | None = None,
                       ttl: dt.timedelta | None = dt.timedelta(hours=1)) -> bt.BootstrapToken:
    created = bt.new_token(now or utcnow(), ttl, "test", token=token)
    await admin.create(bt.to_secret(created))
    return created


@asynccontextmanager
async def running_plane(tmp_path: Path) -> AsyncIterator[Plane]:
    certs = tmp_path / "pki"
    pki.ensure(certs, pki.cluster_specs([], []))
    kv = KVProcess(tmp_path / "kv", tmp_path / "kv.log").start()
    serving = (cert_path(certs, "apiserver"), key_path(certs, "apiserver"))
    ca = cert_path(certs, pki.CLUSTER_CA)
    server = ApiServer([kv.endpoint], "127.0.0.1:0", http_listen="127.0.0.1:0",
                       http_ssl=server_ssl_context(str(serving[0]), str(serving[1]), str(ca)),
                       credentials=server_credentials(*serving, ca), listen_without_client_cert="127.0.0.1:0",
                       credentials_without_client_cert=server_credentials(*serving),
                       access=AccessOptions.parse("Node,RBAC", None, True, True))
    manager: ControllerManager | None = None
    plane = Plane(server, certs, ApiClient.connect("127.0.0.1:1"), tmp_path)
    try:
        await server.start()
        plane.admin = plane.client(pki.ADMIN)
        signing = load_signing_ca(str(ca), str(key_path(certs, pki.CLUSTER_CA)), dt.timedelta(days=365))
        manager = ControllerManager(plane.client("controller-manager"), CONTROLLERS, signing_ca=signing)
        await manager.start()
        yield plane
    finally:
        if manager is not None:
            await manager.stop()
            await manager.client.close()
        await plane.admin.close()
        await server.stop()
        kv.terminate()

"""The HTTPS API under `--authorization-mode Node,RBAC`: who is who (client certificate, bearer token,
impersonation, anonymous) and what each may do, with Kubernetes' 401/403 Status bodies.

The server asks for a client certificate but does not require one, so a token-only client
connects too; the PKI is the one `kubelite up` makes.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from apiserver.access import AccessOptions
from apiserver.http import server_ssl_context
from apiserver.server import ApiServer
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, key_path
from tests.integration.kvstore.kvproc import KVProcess

pytestmark = pytest.mark.integration

TOKENS = 'alice-token,alice,u-alice,"devs"\n'


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[ApiServer, Path]]:
    certs = tmp_path / "pki"
    pki.ensure(certs, pki.cluster_specs([], [("node-1", "127.0.0.11")]))
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(TOKENS)
    kv = KVProcess(tmp_path / "kv", tmp_path / "kv.log").start()
    context = server_ssl_context(str(cert_path(certs, "apiserver")), str(key_path(certs, "apiserver")),
                                 str(cert_path(certs, "ca")))
    server = ApiServer([kv.endpoint], "127.0.0.1:0", http_listen="127.0.0.1:0", http_ssl=context,
                       access=AccessOptions.parse("Node,RBAC", str(tokens)))
    try:
        await server.start()
        yield server, certs
    finally:
        await server.stop()
        kv.terminate()


def client_ssl(certs: Path, who: str = "") -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert_path(certs, "ca")))
    if who:
        context.load_cert_chain(str(cert_path(certs, who)), str(key_path(certs, who)))
    return context


async def call(server: ApiServer, context: ssl.SSLContext, path: str, method: str = "GET",
               headers: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"{server.http.url}{path}", ssl=context, headers=headers,
                                   json=body) as resp:
            text = await resp.text()
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, text


async def test_identities_and_refusals(api: tuple[ApiServer, Path]) -> None:
    server, certs = api
    anonymous = client_ssl(certs)
    pods = "/api/v1/namespaces/default/pods"
    # Public info and health: anyone.
    assert (await call(server, anonymous, "/healthz"))[0] == 200
    assert (await call(server, anonymous, "/version"))[0] == 200
    # Anonymous: 403 with Kubernetes' message; a token nobody knows: 401.
    code, status = await call(server, anonymous, pods)
    assert code == 403 and status["reason"] == "Forbidden" and status["kind"] == "Status"
    assert status["message"] == ('pods is forbidden: User "system:anonymous" cannot list resource "pods" '
                                 'in API group "" in the namespace "default"')
    code, status = await call(server, anonymous, pods, headers={"Authorization": "Bearer nope"})
    assert (code, status["reason"], status["code"]) == (401, "Unauthorized", 401)
    code, status = await call(server, anonymous, pods, headers={"Authorization": "Bearer a.b.c"})
    assert code == 401  # looks like a JWT but is nobody's: falls through every source
    # A bearer token user: authenticated (discovery), but no rights on pods.
    alice = {"Authorization": "Bearer alice-token"}
    assert (await call(server, anonymous, "/api/v1", headers=alice))[0] == 200
    code, status = await call(server, anonymous, pods, headers=alice)
    assert code == 403 and 'User "alice"' in status["message"]
    # The admin's certificate (system:masters): everything, and it may impersonate alice.
    admin = client_ssl(certs, pki.ADMIN)
    assert (await call(server, admin, pods))[0] == 200
    code, status = await call(server, admin, pods, headers={"Impersonate-User": "alice"})
    assert code == 403 and 'User "alice"' in status["message"]
    code, status = await call(server, anonymous, pods, headers={**alice, "Impersonate-User": "bob"})
    assert code == 403 and "impersonate" in status["message"]
    # A kubelet's certificate: the Node authorizer's rules (no Secret of a pod not on its node).
    node = client_ssl(certs, pki.kubelet_client("node-1"))
    assert (await call(server, node, "/api/v1/nodes/node-1"))[0] in (200, 404)
    code, status = await call(server, node, "/api/v1/namespaces/default/secrets/s1")
    assert code == 403 and "no relationship found between node 'node-1'" in status["message"]
    code, status = await call(server, node, "/api/v1/secrets")
    assert code == 403

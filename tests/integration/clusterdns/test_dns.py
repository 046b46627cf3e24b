"""`ClusterDns` over a real apiserver, queried over real UDP by a separate process.

(Resolvers such as busybox nslookup only query port 53; the e2e cluster checks
them inside a node namespace. Here a tiny stdlib client asks our random port.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelite.api import Endpoints, Service
from kubelite.client import ApiClient
from kubelite.clusterdns.server import ClusterDns
from tests.integration.controllers.helpers import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def dns(control_plane: Any) -> AsyncIterator[ClusterDns]:
    server = ClusterDns(control_plane.client, "127.0.0.1", 0)
    await server.start()
    try:
        await wait_for(lambda: _true(server.synced), "dns informers synced")
        yield server
    finally:
        await server.stop()


async def _true(v: bool) -> bool | None:
    return True if v else None


async def query(name: str, port: int) -> tuple[int, str]:
    """'RCODE IP IP...' for an A query, from a separate process over UDP."""
    proc = await asyncio.create_subprocess_exec(
        "python3", "-c", _QUERY, name, str(port), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, (out + err).decode()


_QUERY = r"""
import socket, struct, sys
name, port = sys.argv[1], int(sys.argv[2])
q = struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0)
for label in name.split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\x00" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(q, ("127.0.0.1", port)); r, _ = s.recvfrom(4096)
rcode = r[3] & 0xF; an = struct.unpack("!H", r[6:8])[0]
ips = []
pos = len(q)
for _ in range(an):
    while r[pos] != 0: pos += r[pos] + 1
    pos += 1; rtype, _, _, rdlen = struct.unpack("!HHIH", r[pos:pos+10]); pos += 10
    if rtype == 1: ips.append(".".join(str(b) for b in r[pos:pos+4]))
    pos += rdlen
print(rcode, " ".join(sorted(ips)))
"""


async def answer(name: str, port: int) -> str:
    code, out = await query(name, port)
    assert code == 0, out
    return out.strip()


async def test_service_and_headless_names_resolve_and_follow_changes(control_plane: Any, dns: ClusterDns) -> None:
    client: ApiClient = control_plane.client
    await client.create(Service.from_dict({"metadata": {"name": "web"}, "spec": {
        "clusterIP": "10.96.0.50", "selector": {"app": "web"}, "ports": [{"port": 80}]}}))
    await client.create(Service.from_dict({"metadata": {"name": "db"}, "spec": {
        "clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}}))
    await client.create(Endpoints.from_dict({"metadata": {"name": "db"}, "subsets": [
        {"addresses": [{"ip": "10.244.1.5", "hostname": "db-0"}, {"ip": "10.244.2.6", "hostname": "db-1"}],
         "ports": [{"port": 5432}]}]}))

    async def says(name: str, want: str) -> bool | None:
        return True if await answer(name, dns.port) == want else None

    await wait_for(lambda: says("web.default.svc.cluster.local", "0 10.96.0.50"), "ClusterIP A record")
    await wait_for(lambda: says("db.default.svc.cluster.local", "0 10.244.1.5 10.244.2.6"), "headless A records")
    assert await answer("db-1.db.default.svc.cluster.local", dns.port) == "0 10.244.2.6"
    assert await answer("nope.default.svc.cluster.local", dns.port) == "3"  # NXDOMAIN
    assert await answer("example.com", dns.port) == "5"  # REFUSED: nothing is forwarded
    await client.delete(Service, "web")
    await wait_for(lambda: says("web.default.svc.cluster.local", "3"), "deleted Service is NXDOMAIN")

"""ClusterIP and NodePort allocation through the real apiserver and kvstore: unique owners,
explicit requests honoured or refused, released on delete, kept across an apiserver restart."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from kubelite.api import Service
from kubelite.api.errors import Invalid
from kubelite.client import ApiClient

pytestmark = pytest.mark.integration


def svc(name: str, *, type_: str = "ClusterIP", cluster_ip: str | None = None,
        node_port: int | None = None) -> Service:
    port: dict[str, Any] = {"port": 80, "targetPort": 8080}
    if node_port:
        port["nodePort"] = node_port
    spec: dict[str, Any] = {"type": type_, "selector": {"app": name}, "ports": [port]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return Service.from_dict({"metadata": {"name": name}, "spec": spec})


async def test_automatic_allocation_is_unique_and_in_range(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    made = [await client.create(svc(f"s{i}", type_="NodePort")) for i in range(20)]
    ips = [s.spec.cluster_ip for s in made]
    ports = [s.spec.ports[0].node_port for s in made]
    assert len(set(ips)) == 20 and len(set(ports)) == 20
    net = ipaddress.ip_network("10.96.0.0/12")
    assert all(ipaddress.ip_address(ip or "") in net for ip in ips)
    assert all(p is not None and 30000 <= p <= 32767 for p in ports)
    headless = await client.create(svc("headless", cluster_ip="None"))
    assert headless.spec.cluster_ip == "None"


async def test_explicit_requests_conflicts_release_and_restart(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    dns = await client.create(svc("dns", cluster_ip="10.96.0.10"))
    assert dns.spec.cluster_ip == "10.96.0.10"
    with pytest.raises(Invalid, match="spec.clusterIP.*provided IP is already allocated"):
        await client.create(svc("dns2", cluster_ip="10.96.0.10"))
    with pytest.raises(Invalid, match="not in the valid range"):
        await client.create(svc("far", cluster_ip="192.168.1.1"))
    np = await client.create(svc("np", type_="NodePort", node_port=30080))
    assert np.spec.ports[0].node_port == 30080
    with pytest.raises(Invalid, match="provided port is already allocated"):
        await client.create(svc("np2", type_="NodePort", node_port=30080))

    await control_plane.restart_apiserver()  # allocations live in the store, not in memory
    with pytest.raises(Invalid, match="already allocated"):
        await client.create(svc("dns3", cluster_ip="10.96.0.10"))

    await client.delete(Service, "dns")
    await client.delete(Service, "np")
    again = await client.create(svc("dns-again", cluster_ip="10.96.0.10"))
    assert again.spec.cluster_ip == "10.96.0.10"
    assert (await client.create(svc("np-again", type_="NodePort", node_port=30080))).spec.ports[0].node_port == 30080


async def test_updates_keep_ip_and_allocate_or_release_node_ports(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    s = await client.create(svc("web"))
    ip = s.spec.cluster_ip
    s.spec.type = "NodePort"
    s.spec.cluster_ip = None  # like `kctl apply` of a manifest without clusterIP
    s.spec.cluster_ips = []
    s = await client.update(s)
    assert s.spec.cluster_ip == ip
    port = s.spec.ports[0].node_port
    assert port is not None
    s.spec.type = "ClusterIP"
    s.spec.ports[0].node_port = None
    s = await client.update(s)
    assert s.spec.ports[0].node_port is None
    # the released port can be claimed explicitly by someone else now
    other = await client.create(svc("other", type_="NodePort", node_port=port))
    assert other.spec.ports[0].node_port == port

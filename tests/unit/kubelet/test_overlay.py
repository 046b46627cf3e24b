"""The VXLAN overlay's pure parts: which Nodes are peers, the wanted VTEP state, the change order,
and a sync against a fake kernel (add, no-op, change, removal)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kubelet.overlay.model import (
    ANNOTATION_BACKEND,
    ANNOTATION_PUBLIC_IP,
    ANNOTATION_VTEP_MAC,
    Peer,
    VxlanConfig,
    node_peer,
    peers_from_nodes,
    vtep_mac,
)
from kubelet.overlay.netlink import PublicLink, VtepSpec
from kubelet.overlay.plan import Change, OverlayState, desired_state, plan_changes
from kubelet.overlay.sync import VxlanSync
from kubelet.routes import Route, desired_routes
from kubelite.api import Node
from kubelite.client import ApiClient, Informer


def vx_node(name: str, public_ip: str, cidr: str | None, backend: str = "vxlan", mac: str | None = None) -> Node:
    d: dict[str, Any] = {"metadata": {"name": name, "annotations": {
        ANNOTATION_BACKEND: backend, ANNOTATION_PUBLIC_IP: public_ip,
        ANNOTATION_VTEP_MAC: mac if mac is not None else vtep_mac(public_ip)}}, "spec": {}, "status": {
        "addresses": [{"type": "InternalIP", "address": public_ip}]}}
    if cidr:
        d["spec"]["podCIDR"] = cidr
    return Node.from_dict(d)


def test_config_names_device_and_vni_after_the_net_id() -> None:
    assert (VxlanConfig(0).device, VxlanConfig(7).device) == ("kl-vx0", "kl-vx7")
    assert VxlanConfig(0).vni != VxlanConfig(7).vni
    with pytest.raises(ValueError, match="net id"):
        VxlanConfig(256)
    with pytest.raises(ValueError, match="port"):
        VxlanConfig(0, port=0)


def test_vtep_mac_is_stable_local_unicast_and_unique_per_ip() -> None:
    mac = vtep_mac("192.168.1.10")
    assert mac == vtep_mac("192.168.1.10") and mac != vtep_mac("192.168.2.10")
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast


def test_peers_skip_self_hostgw_bad_annotations_no_cidr_and_own_ip() -> None:
    nodes = [
        vx_node("a", "192.168.1.10", "10.244.1.0/24"),
        vx_node("b", "192.168.2.10", "10.244.2.0/24"),
        vx_node("c", "192.168.3.10", "10.244.3.0/24", backend="host-gw"),
        vx_node("d", "192.168.4.10", "10.244.4.0/24", mac="not-a-mac"),
        vx_node("e", "192.168.5.10", None),
        vx_node("stale-a", "192.168.1.10", "10.244.9.0/24"),  # claims a's IP
    ]
    assert peers_from_nodes(nodes, "a", "192.168.1.10") == [
        Peer("10.244.2.0/24", "10.244.2.0", vtep_mac("192.168.2.10"), "192.168.2.10")]
    assert "MAC" in node_peer(nodes[3])[1] and "podCIDR" in node_peer(nodes[4])[1]


def test_desired_state_routes_neighs_fdb_and_own_address() -> None:
    peers = [Peer("10.244.2.0/24", "10.244.2.0", "0a:6b:c0:a8:02:0a", "192.168.2.10"),
             Peer("10.244.2.0/24", "10.244.2.0", "0a:6b:c0:a8:09:0a", "192.168.9.10"),  # same CIDR: first wins
             Peer("10.244.1.0/24", "10.244.1.0", "0a:6b:c0:a8:08:0a", "192.168.8.10")]  # claims our CIDR
    want = desired_state(peers, "10.244.1.0/24")
    assert want.routes == {"10.244.2.0/24": "10.244.2.0"}
    assert want.neighs == {"10.244.2.0": "0a:6b:c0:a8:02:0a"}
    assert want.addrs == frozenset({"10.244.1.0/32"})
    assert desired_state([], None) == OverlayState()


def test_plan_orders_removals_before_additions_and_paths_before_routes() -> None:
    have = OverlayState(routes={"10.244.3.0/24": "10.244.3.0"}, neighs={"10.244.3.0": "m3"}, fdb={"m3": "1.1.1.3"})
    want = OverlayState(routes={"10.244.2.0/24": "10.244.2.0"}, neighs={"10.244.2.0": "m2"}, fdb={"m2": "1.1.1.2"},
                        addrs=frozenset({"10.244.1.0/32"}))
    assert [str(c) for c in plan_changes(want, have)] == [
        "del route 10.244.3.0/24 -> 10.244.3.0", "del neigh 10.244.3.0 -> m3", "del fdb m3 -> 1.1.1.3",
        "add addr 10.244.1.0/32", "add fdb m2 -> 1.1.1.2", "add neigh 10.244.2.0 -> m2",
        "add route 10.244.2.0/24 -> 10.244.2.0"]
    assert plan_changes(want, want) == []


def test_plan_replaces_changed_route_and_neigh_and_moves_fdb() -> None:
    have = OverlayState(routes={"10.244.2.0/24": "10.244.7.0"}, neighs={"10.244.2.0": "m-old"}, fdb={"m2": "1.1.1.9"})
    want = OverlayState(routes={"10.244.2.0/24": "10.244.2.0"}, neighs={"10.244.2.0": "m2"}, fdb={"m2": "1.1.1.2"})
    assert plan_changes(want, have) == [
        Change("fdb", "del", "m2", "1.1.1.9"), Change("fdb", "add", "m2", "1.1.1.2"),
        Change("neigh", "replace", "10.244.2.0", "m2"), Change("route", "replace", "10.244.2.0/24", "10.244.2.0")]


def test_hostgw_routes_leave_pods_to_the_overlay() -> None:
    nodes = [vx_node("a", "192.168.1.10", "10.244.1.0/24"), vx_node("b", "192.168.2.10", "10.244.2.0/24")]
    svc = Route("10.96.0.0/12", dev="eth0")
    assert desired_routes(nodes, "a", svc, pod_routes=False) == {"10.96.0.0/12": svc}
    assert "10.244.2.0/24" in desired_routes(nodes, "a", svc)


class FakeNetlink:
    """A kernel with one public interface; records the VTEP and applies changes to its state."""

    def __init__(self) -> None:
        self.vtep: VtepSpec | None = None
        self.state = OverlayState()
        self.applied: list[Change] = []

    async def public_link(self, ip: str) -> PublicLink:
        return PublicLink(2, "eth0", 1500)

    async def ensure_vtep(self, spec: VtepSpec) -> bool:
        created, self.vtep = self.vtep != spec, spec
        return created

    async def read_state(self, device: str) -> OverlayState | None:
        return self.state if self.vtep is not None else None

    async def apply(self, device: str, changes: list[Change]) -> None:
        tables = {k: dict(self.state.table(k)) for k in ("route", "neigh", "fdb", "addr")}
        for c in changes:
            if c.op == "del":
                tables[c.kind].pop(c.key, None)
            else:
                tables[c.kind][c.key] = c.value
        self.state = OverlayState(routes=tables["route"], neighs=tables["neigh"], fdb=tables["fdb"],
                                  addrs=frozenset(tables["addr"]))
        self.applied += changes

    async def delete_vtep(self, device: str) -> bool:
        had, self.vtep, self.state = self.vtep is not None, None, OverlayState()
        return had


async def test_sync_publishes_vtep_programs_peers_and_follows_changes() -> None:
    informer: Informer[Node] = Informer(cast(ApiClient, object()), Node)
    kernel = FakeNetlink()
    sync = VxlanSync(informer, "a", "192.168.1.10", VxlanConfig(3, 4789), lambda: "10.244.1.0/24", kernel)
    annotations = await sync.setup()
    assert annotations == {ANNOTATION_BACKEND: "vxlan", ANNOTATION_VTEP_MAC: vtep_mac("192.168.1.10"),
                           ANNOTATION_PUBLIC_IP: "192.168.1.10"}
    assert kernel.vtep is not None and (kernel.vtep.name, kernel.vtep.port, kernel.vtep.mtu) == ("kl-vx3", 4789, 1450)
    assert await sync.pod_mtu() == 1450
    for n in [vx_node("a", "192.168.1.10", "10.244.1.0/24"), vx_node("b", "192.168.2.10", "10.244.2.0/24")]:
        informer.store._put(n.metadata.name or "", n)
    await sync.sync()
    assert kernel.state.routes == {"10.244.2.0/24": "10.244.2.0"}
    assert kernel.state.fdb == {vtep_mac("192.168.2.10"): "192.168.2.10"}
    assert await sync.sync() == []  # in step: nothing to do
    informer.store._put("b", vx_node("b", "192.168.7.10", "10.244.2.0/24"))  # b moved to another address
    await sync.sync()
    assert kernel.state.fdb == {vtep_mac("192.168.7.10"): "192.168.7.10"}
    assert kernel.state.neighs == {"10.244.2.0": vtep_mac("192.168.7.10")}
    informer.store._remove("b")
    await sync.sync()
    assert kernel.state == OverlayState(addrs=frozenset({"10.244.1.0/32"}))
    assert await sync.cleanup() and kernel.vtep is None


async def test_cni_config_carries_the_overlay_mtu(tmp_path: Any) -> None:
    from kubelet.cni import CniNetwork

    async def mtu() -> int | None:
        return 1450

    net = CniNetwork("10.244.1.0/24", state_dir=tmp_path, mtu_source=mtu)
    assert "mtu" not in net.conflist("10.244.1.0/24")["plugins"][0]  # unknown until the first ADD prepares the node
    net.mtu = await mtu()
    assert net.conflist("10.244.1.0/24")["plugins"][0]["mtu"] == 1450

"""The node-IPAM controller against a real apiserver: one /24 per node, never shared, kept across restarts."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.manager import ControllerManager
from kubelite.api import Node, ObjectMeta
from kubelite.api.core import NodeSpec
from kubelite.client import ApiClient
from tests.integration.controllers.helpers import wait_for

pytestmark = pytest.mark.integration


async def cidrs(client: ApiClient, names: list[str]) -> dict[str, str] | None:
    nodes = {n.metadata.name: n.spec.pod_cidr for n in (await client.list(Node)).items}
    if all(nodes.get(name) for name in names):
        return {name: str(nodes[name]) for name in names}
    return None


async def test_assigns_unique_cidrs_and_stays_consistent_after_restart(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    # A node that already has a range (e.g. assigned by an earlier controller-manager).
    await client.create(Node(metadata=ObjectMeta(name="old"), spec=NodeSpec(pod_cidr="10.244.1.0/24")))
    for name in ("a", "b"):
        await client.create(Node(metadata=ObjectMeta(name=name)))
    cm = ControllerManager(client, ["nodeipam"])
    await cm.start()
    try:
        got = await wait_for(lambda: cidrs(client, ["old", "a", "b"]), "podCIDRs for a and b")
        assert got["old"] == "10.244.1.0/24"
        assert len(set(got.values())) == 3
        node_a = await client.get(Node, "a", "")
        assert node_a.spec.pod_cidrs == [node_a.spec.pod_cidr]
    finally:
        await cm.stop()

    # A new controller-manager learns the used ranges from the Nodes themselves.
    await client.delete(Node, "a", "")
    await client.create(Node(metadata=ObjectMeta(name="c")))
    cm = ControllerManager(client, ["nodeipam"])
    await cm.start()
    try:
        after = await wait_for(lambda: cidrs(client, ["old", "b", "c"]), "podCIDR for c")
        assert after["b"] == got["b"] and after["old"] == got["old"]
        assert after["c"] not in (after["b"], after["old"])
        await client.create(Node(metadata=ObjectMeta(name="d")))
        more = await wait_for(lambda: cidrs(client, ["b", "c", "d", "old"]), "podCIDR for d")
        assert len(set(more.values())) == 4
    finally:
        await cm.stop()

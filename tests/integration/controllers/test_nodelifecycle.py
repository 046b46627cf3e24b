"""Node lifecycle controller against a real apiserver, with fake clocks: a node whose Lease
stops changing turns Unknown, is tainted unreachable, and its pods are evicted when their
tolerations run out; a node that heartbeats again is untainted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from controllers.base import ControllerContext
from controllers.informers import InformerFactory
from controllers.nodelifecycle.controller import NodeLifecycleController, ready_status
from kubelite.api import Lease, LeaseSpec, Node, ObjectMeta, Pod, now_micro
from kubelite.api.errors import NotFound
from kubelite.client import ApiClient
from tests.integration.controllers.helpers import wait_for

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def setup(control_plane: Any) -> AsyncIterator[tuple[ApiClient, NodeLifecycleController, Clock, Clock]]:
    import time

    client: ApiClient = control_plane.client
    mono, wall = Clock(1000.0), Clock(time.time())
    factory = InformerFactory(client)
    ctrl = NodeLifecycleController(ControllerContext(client, factory), grace_period=40, monitor_period=0.05, clock=mono, wall=wall)
    factory.start()
    await factory.wait_synced()
    ctrl.start()
    try:
        yield client, ctrl, mono, wall
    finally:
        await ctrl.stop()
        await factory.stop()


async def ready_node(client: ApiClient, name: str) -> None:
    node = await client.create(Node.from_dict({"metadata": {"name": name}}))
    node.status = Node.from_dict({"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}).status
    await client.update_status(node)
    await client.create(Lease(metadata=ObjectMeta(name=name, namespace="kube-node-lease"),
                              spec=LeaseSpec(holder_identity=name, renew_time=now_micro())))


def pod(name: str, node: str, tolerations: list[dict[str, Any]] | None = None) -> Pod:
    return Pod.from_dict({"metadata": {"name": name}, "spec": {
        "nodeName": node, "tolerations": tolerations or [],
        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1000"]}]}})


async def gone(client: ApiClient, name: str) -> bool | None:
    try:
        p = await client.get(Pod, name)
    except NotFound:
        return True
    return True if p.metadata.deletion_timestamp else None


async def test_lost_node_is_tainted_and_pods_evicted_after_their_tolerations(setup: Any) -> None:
    client, ctrl, mono, wall = setup
    await ready_node(client, "n1")
    await ready_node(client, "n2")
    default = await client.create(pod("default-tol", "n1"))
    assert {t.key for t in default.spec.tolerations} == {
        "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}  # apiserver admission, 30 s each
    await client.create(pod("forever", "n1", [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                                "effect": "NoExecute"}]))
    await client.create(pod("impatient", "n1", [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                                  "effect": "NoExecute", "tolerationSeconds": 0}]))
    await client.create(pod("elsewhere", "n2"))

    async def node_state(name: str) -> Node:
        return await client.get(Node, name, "")

    mono.now += 30  # within the grace period: nothing happens
    n2_lease = await client.get(Lease, "n2", "kube-node-lease")

    async def renew_n2() -> None:
        nonlocal n2_lease
        n2_lease.spec.renew_time = now_micro()
        n2_lease = await client.update(n2_lease)

    await renew_n2()
    await wait_for(lambda: _seen(ctrl, "n2", n2_lease.spec.renew_time or ""), "n2's renewal observed")
    mono.now += 15  # n1 silent for 45 s > 40 s; n2 renewed 15 s ago

    async def unknown() -> Node | None:
        n = await node_state("n1")
        return n if ready_status(n) == "Unknown" and n.spec.taints else None

    n1 = await wait_for(unknown, "n1 Ready=Unknown and tainted")
    assert {(t.key, t.effect) for t in n1.spec.taints} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")}
    assert ready_status(await node_state("n2")) == "True"

    await wait_for(lambda: gone(client, "impatient"), "tolerationSeconds=0 pod evicted at once")
    assert not await gone(client, "default-tol")  # 30 s of toleration not over yet
    wall.now += 31
    await wait_for(lambda: gone(client, "default-tol"), "default-toleration pod evicted after 30 s")
    assert not await gone(client, "forever")
    assert not await gone(client, "elsewhere")

    # The kubelet comes back: Lease renewed, Ready posted again -> taints removed.
    lease = await client.get(Lease, "n1", "kube-node-lease")
    lease.spec.renew_time = now_micro()
    await client.update(lease)
    n1 = await node_state("n1")
    n1.status = Node.from_dict({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}).status
    await client.update_status(n1)

    async def untainted() -> bool | None:
        return True if not (await node_state("n1")).spec.taints else None

    await wait_for(untainted, "taints removed once the node is Ready again")


async def _seen(ctrl: NodeLifecycleController, node: str, record: str) -> bool | None:
    seen = ctrl._heartbeats.get(node)
    return True if seen and seen[0] == record else None


async def test_pods_of_a_deleted_node_are_removed(setup: Any) -> None:
    client, _ctrl, _mono, _wall = setup
    await ready_node(client, "gone")
    await client.create(pod("stranded", "gone"))
    await client.delete(Node, "gone", "")

    async def removed() -> bool | None:
        try:
            await client.get(Pod, "stranded")
        except NotFound:
            return True
        return None

    await wait_for(removed, "the pod of a deleted node to be removed (not left Terminating)")

"""The Endpoints controller against a real apiserver: ready/not-ready pods, named target
ports, pods leaving rotation when deleted, and Endpoints removed with their Service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from controllers.base import ControllerContext
from controllers.endpoints.controller import EndpointsController
from controllers.informers import InformerFactory
from kubelite.api import Endpoints, Node, Pod, Service
from kubelite.api.errors import NotFound
from kubelite.client import ApiClient
from tests.integration.controllers.helpers import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def controller(control_plane: Any) -> AsyncIterator[EndpointsController]:
    factory = InformerFactory(control_plane.client)
    ctrl = EndpointsController(ControllerContext(control_plane.client, factory))
    factory.start()
    await factory.wait_synced()
    ctrl.start()
    try:
        yield ctrl
    finally:
        await ctrl.stop()
        await factory.stop()


async def running_pod(client: ApiClient, name: str, ip: str, ready: bool, app: str = "web") -> Pod:
    pod = await client.create(Pod.from_dict({"metadata": {"name": name, "labels": {"app": app}}, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "image": "busybox",
                                          "ports": [{"name": "http", "containerPort": 8080}]}]}}))
    return await set_ready(client, pod, ip, ready)


async def set_ready(client: ApiClient, pod: Pod, ip: str, ready: bool) -> Pod:
    def mutate(p: Pod) -> None:
        p.status = Pod.from_dict({"status": {"phase": "Running", "podIP": ip, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}}).status

    return await client.update_with_retry(Pod, pod.metadata.name or "", "default", mutate, status=True)


async def endpoints_state(client: ApiClient, name: str) -> tuple[list[str], list[str], list[int]] | None:
    try:
        ep = await client.get(Endpoints, name)
    except NotFound:
        return None
    ready = sorted(a.ip for s in ep.subsets for a in s.addresses)
    not_ready = sorted(a.ip for s in ep.subsets for a in s.not_ready_addresses)
    ports = sorted(p.port for s in ep.subsets for p in s.ports)
    return ready, not_ready, ports


async def test_endpoints_follow_pod_readiness_and_deletion(control_plane: Any, controller: Any) -> None:
    client: ApiClient = control_plane.client
    await client.create(Node.from_dict({"metadata": {"name": "n1"}}))
    await client.create(Service.from_dict({"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}))
    a = await running_pod(client, "a", "10.244.1.2", True)
    await running_pod(client, "b", "10.244.1.3", False)
    await running_pod(client, "other", "10.244.1.9", True, app="db")

    async def state_is(want: tuple[list[str], list[str], list[int]]) -> bool | None:
        return True if await endpoints_state(client, "web") == want else None

    await wait_for(lambda: state_is((["10.244.1.2"], ["10.244.1.3"], [8080])), "a ready, b not ready, port 8080")
    b = await client.get(Pod, "b")
    await set_ready(client, b, "10.244.1.3", True)
    await wait_for(lambda: state_is((["10.244.1.2", "10.244.1.3"], [], [8080])), "b joins when ready")

    await client.delete(Pod, a.metadata.name or "")  # bound pod: graceful, still exists while terminating
    assert (await client.get(Pod, "a")).metadata.deletion_timestamp is not None
    await wait_for(lambda: state_is((["10.244.1.3"], [], [8080])), "a leaves rotation as soon as it terminates")

    await client.delete(Service, "web")

    async def gone() -> bool | None:
        return True if await endpoints_state(client, "web") is None else None

    await wait_for(gone, "Endpoints deleted with the Service")

"""Logs are proxied to the kubelet found through the pod's Node; errors are clear."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from kubelite.api import (
    Container,
    DaemonEndpoint,
    Node,
    NodeAddress,
    NodeDaemonEndpoints,
    NodeStatus,
    ObjectMeta,
    Pod,
    PodSpec,
)
from kubelite.api.errors import BadRequest, ServiceUnavailable
from kubelite.pb.kubelite import api_pb2
from tests.integration.controlplane import ControlPlane


class FakeKubelet:
    """Serves kubelite.v1.Kubelet/Logs and remembers what it was asked."""

    def __init__(self) -> None:
        self.requests: list[api_pb2.LogsRequest] = []
        self.server = grpc.aio.server()

        async def logs(request: api_pb2.LogsRequest, context: Any) -> AsyncIterator[api_pb2.LogChunk]:
            self.requests.append(request)
            yield api_pb2.LogChunk(data=b"hello\n")
            yield api_pb2.LogChunk(data=f"from {request.name}/{request.container}\n".encode())

        handler = grpc.unary_stream_rpc_method_handler(
            logs, request_deserializer=api_pb2.LogsRequest.FromString,
            response_serializer=api_pb2.LogChunk.SerializeToString,
        )
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("kubelite.v1.Kubelet", {"Logs": handler}),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")


def node(name: str, port: int | None) -> Node:
    status = NodeStatus(addresses=[NodeAddress(type="InternalIP", address="127.0.0.1")])
    if port is not None:
        status.daemon_endpoints = NodeDaemonEndpoints(kubelet_endpoint=DaemonEndpoint(port=port))
    return Node(metadata=ObjectMeta(name=name), status=status)


def pod(name: str, *containers: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="default"),
               spec=PodSpec(containers=[Container(name=c, image="busybox") for c in containers]))


async def read_logs(c: Any, name: str, container: str = "") -> bytes:
    return b"".join([chunk async for chunk in c.logs("default", name, container=container)])


async def test_logs_are_proxied_to_the_pods_kubelet(control_plane: ControlPlane) -> None:
    c = control_plane.client
    kubelet = FakeKubelet()
    await kubelet.server.start()
    try:
        await c.create(node("n1", kubelet.port))
        await c.create(node("n2", None))
        created = await c.create(pod("single", "main"))
        await c.bind("default", "single", "n1")
        assert await read_logs(c, "single") == b"hello\nfrom single/main\n"
        assert kubelet.requests[0].pod_uid == created.metadata.uid
        assert kubelet.requests[0].namespace == "default"

        await c.create(pod("multi", "a", "b"))
        await c.bind("default", "multi", "n1")
        with pytest.raises(BadRequest, match="choose one of: \\[a b\\]"):
            await read_logs(c, "multi")
        assert await read_logs(c, "multi", "b") == b"hello\nfrom multi/b\n"
        with pytest.raises(BadRequest, match="not valid"):
            await read_logs(c, "multi", "zzz")

        await c.create(pod("pending", "main"))
        with pytest.raises(BadRequest, match="not scheduled"):
            await read_logs(c, "pending")
        await c.create(pod("noaddr", "main"))
        await c.bind("default", "noaddr", "n2")
        with pytest.raises(ServiceUnavailable, match="no kubelet address"):
            await read_logs(c, "noaddr")
    finally:
        await kubelet.server.stop(None)

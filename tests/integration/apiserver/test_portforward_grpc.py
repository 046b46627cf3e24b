"""`Resources.PortForward` over the apiserver's gRPC API, relayed to a kubelet's PortForward stream.

The kubelet side is the real `kubelet.portforward.forward` (its backend answers "this
namespace", so no root is needed) in front of a local TCP server; the client is the real
`ApiClient.port_forward` kctl uses. Bytes go both ways, the apiserver fills in the pod's uid,
and a closed port comes back as an error naming pod and port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from kubelet.portforward import forward
from kubelite.api.errors import ApiError, BadRequest
from kubelite.pb.kubelite import api_pb2
from kubelite.wire import grpc_code, status_metadata
from tests.integration.apiserver.test_logs import node, pod
from tests.integration.controlplane import ControlPlane


class LocalBackend:
    """Every pod lives in the kubelet's own network namespace; remembers which uids were asked."""

    def __init__(self) -> None:
        self.uids: list[str] = []

    async def pod_netns(self, namespace: str, name: str, uid: str) -> str:
        self.uids.append(uid)
        return ""


async def kubelet_server(backend: LocalBackend) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()

    async def port_forward(requests: AsyncIterator[api_pb2.PortForwardRequest],
                           context: Any) -> AsyncIterator[api_pb2.PortForwardResponse]:
        first = await anext(aiter(requests))
        try:
            async for response in forward(backend, first, requests):
                yield response
        except ApiError as err:
            context.set_trailing_metadata(status_metadata(err))
            context.set_code(grpc_code(err))
            context.set_details(err.message)

    handler = grpc.stream_stream_rpc_method_handler(
        port_forward, request_deserializer=api_pb2.PortForwardRequest.FromString,
        response_serializer=api_pb2.PortForwardResponse.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("kubelite.v1.Kubelet",
                                                                          {"PortForward": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def echo_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers everything it was sent, upper-cased, once the client half-closes."""
    data = await reader.read()
    writer.write(data.upper())
    await writer.drain()
    writer.close()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_port_forward_is_relayed_through_the_pods_kubelet(control_plane: ControlPlane) -> None:
    c = control_plane.client
    backend = LocalBackend()
    kubelet, kubelet_port = await kubelet_server(backend)
    target = await asyncio.start_server(echo_upper, "127.0.0.1", 0)
    port = int(target.sockets[0].getsockname()[1])
    try:
        await c.create(node("n1", kubelet_port))
        created = await c.create(pod("web", "main"))
        await c.bind("default", "web", "n1")

        got = b"".join([d async for d in c.port_forward("default", "web", port, chunks(b"hello ", b"there"))])
        assert got == b"HELLO THERE"
        both = await asyncio.gather(*(
            asyncio.create_task(_collect(c.port_forward("", "web", port, chunks(f"conn {i}".encode()))))
            for i in range(2)))
        assert both == [b"CONN 0", b"CONN 1"]
        assert set(backend.uids) == {created.metadata.uid}

        target.close()
        await target.wait_closed()
        with pytest.raises(ApiError, match=f"failed to connect to localhost:{port}") as refused:
            await _collect(c.port_forward("default", "web", port, chunks(b"x")))
        assert "pod default/web" in refused.value.message
        with pytest.raises(BadRequest, match="port 0 is not between 1 and 65535"):
            await _collect(c.port_forward("default", "web", 0, chunks()))
        with pytest.raises(ApiError, match='pods "nope" not found'):
            await _collect(c.port_forward("default", "nope", port, chunks()))
    finally:
        target.close()
        await kubelet.stop(None)


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([d async for d in stream])

"""`pods/portforward` over WebSocket: Kubernetes' channel port-forward protocol (`v4.channel.k8s.io`).

Why this protocol: it is the WebSocket port-forward clients such as the official Python client
speak. For the i-th port of `?ports=` the data stream is channel 2i and the error stream 2i+1;
the server's first message on each of them carries the port (2 bytes, little-endian), then
data flows as `[channel][bytes]` both ways, and a failure is text on the error channel.
Each port gets one TCP connection, opened by the kubelet of the pod's node inside the pod's
network namespace (`kubelite.v1.Kubelet/PortForward`, the same mTLS link as exec).

kubectl's own port-forward speaks SPDY tunnelled in a WebSocket (subprotocol
`SPDY/3.1+portforward.k8s.io`): `apiserver.http.portforward_spdy` serves that. A plain SPDY
upgrade (kubectl's fallback when the WebSocket fails) is not served: a clear 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator

from aiohttp import web
from multidict import MultiMapping

from apiserver.http.errors import MethodNotAllowed
from apiserver.http.portforward_spdy import TUNNEL_PROTOCOL, serve_tunnel
from apiserver.http.routing import RequestInfo
from apiserver.http.streaming import MAX_MESSAGE, binary_messages, offered_protocols
from apiserver.logs import KubeletLogs
from kubelite.api.errors import ApiError, BadRequest
from kubelite.pb.kubelite import api_pb2

log = logging.getLogger(__name__)

PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
MAX_PORTS = 64


def parse_ports(query: MultiMapping[str]) -> list[int]:
    """`ports` (repeated and/or comma-separated) as port numbers, or a 400 naming the bad value."""
    ports: list[int] = []
    for value in query.getall("ports", []):
        for text in value.split(","):
            text = text.strip()
            try:
                port = int(text)
            except ValueError:
                raise BadRequest(f'invalid port "{text}" in query parameter ports: not a number') from None
            if not 0 < port < 65536:
                raise BadRequest(f"invalid port {port} in query parameter ports: must be between 1 and 65535")
            ports.append(port)
    if not ports:
        raise BadRequest("query parameter ports is required: the ports of the pod to forward (e.g. ports=8080)")
    if len(ports) > MAX_PORTS:
        raise BadRequest(f"at most {MAX_PORTS} ports may be forwarded at once")
    return ports


def negotiate(request: web.Request) -> str:
    offered = offered_protocols(request)
    if request.method != "GET" or request.headers.get("Upgrade", "").lower() != "websocket":
        raise BadRequest(f"pods/portforward needs a WebSocket upgrade with subprotocol {PROTOCOLS[0]}; got "
                         f"{request.method} with Upgrade: {request.headers.get('Upgrade', '') or 'none'} "
                         "(plain SPDY upgrades are not served)")
    for protocol in offered:
        if protocol in PROTOCOLS:
            return protocol
    raise BadRequest(f"unsupported WebSocket subprotocols {offered} for pods/portforward: this server speaks "
                     f"{PROTOCOLS[0]} and {TUNNEL_PROTOCOL}")


class PortForwardSession:
    """The connections of one port-forward WebSocket: one per port, each a kubelet call."""

    def __init__(self, ws: web.WebSocketResponse, logs: KubeletLogs, target: str,
                 start: api_pb2.PortForwardStart, ports: list[int]) -> None:
        self.ws = ws
        self.logs = logs
        self.target = target
        self.start = start
        self.ports = ports
        self.inboxes: list[asyncio.Queue[api_pb2.PortForwardRequest | None]] = [asyncio.Queue() for _ in ports]

    async def requests(self, index: int) -> AsyncIterator[api_pb2.PortForwardRequest]:
        inbox = self.inboxes[index]
        while (item := await inbox.get()) is not None:
            yield item

    async def send(self, channel: int, data: bytes) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(bytes([channel]) + data)

    async def connection(self, index: int) -> None:
        """Relay port `index`: pod bytes to its data channel, a failure to its error channel."""
        start = api_pb2.PortForwardStart()
        start.CopyFrom(self.start)
        start.port = self.ports[index]
        try:
            async with contextlib.aclosing(self.logs.port_forward(self.target, start, self.requests(index))) as out:
                async for response in out:
                    await self.send(2 * index, response.data)
        except ApiError as err:
            await self.send(2 * index + 1, err.message.encode())

    async def read_client(self) -> None:
        try:
            async for data in binary_messages(self.ws):
                if not data or data[0] % 2 or data[0] // 2 >= len(self.ports) or len(data) == 1:
                    continue  # error channels carry nothing from the client
                await self.inboxes[data[0] // 2].put(api_pb2.PortForwardRequest(data=data[1:]))
        finally:
            for inbox in self.inboxes:
                await inbox.put(None)


async def serve_portforward(request: web.Request, info: RequestInfo, logs: KubeletLogs) -> web.StreamResponse:
    """pods/portforward: check pod and ports, upgrade, then relay one connection per port."""
    if request.method not in ("GET", "POST"):
        raise MethodNotAllowed(f"the server does not allow this method on pods/portforward: {request.method}")
    target, start = await logs.prepare_port_forward(info.namespace, info.name)
    if TUNNEL_PROTOCOL in offered_protocols(request) and request.headers.get("Upgrade", "").lower() == "websocket":
        return await serve_tunnel(request, logs, target, start)  # kubectl port-forward
    protocol = negotiate(request)
    ports = parse_ports(request.query)
    ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    session = PortForwardSession(ws, logs, target, start, ports)
    for index, port in enumerate(ports):
        header = struct.pack("<H", port)
        await session.send(2 * index, header)
        await session.send(2 * index + 1, header)
    reader = asyncio.create_task(session.read_client())
    connections = [asyncio.create_task(session.connection(i)) for i in range(len(ports))]
    all_done = asyncio.create_task(asyncio.wait(connections))
    try:
        await asyncio.wait({reader, all_done}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, all_done, *connections):
            task.cancel()
        for task in (reader, all_done, *connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await ws.close()
    log.info("port-forward over websocket ended", extra={"pod": f"{info.namespace}/{info.name}", "ports": ports})
    return ws

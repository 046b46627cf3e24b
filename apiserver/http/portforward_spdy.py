"""kubectl's port-forward: the `portforward.k8s.io` protocol over SPDY tunnelled in a WebSocket.

Why: kubectl 1.31+ opens `pods/portforward` as a WebSocket with the subprotocol
`SPDY/3.1+portforward.k8s.io` and runs a SPDY/3.1 client inside its binary messages (a plain
SPDY upgrade is only its fallback). For every local connection it opens two streams with the
headers `streamtype` (`error` or `data`), `port` and `requestid`; once both of a request id
exist, the kubelet connects to the port (`KubeletLogs.port_forward`, the same relay the
channel protocol uses) and bytes flow on the data stream. The error stream carries a message
when forwarding fails and ends (FIN) when the connection is over; a reset stream ends it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from apiserver.http import spdy
from apiserver.http.streaming import binary_messages
from apiserver.logs import KubeletLogs
from kubelite.api.errors import ApiError
from kubelite.pb.kubelite import api_pb2

log = logging.getLogger(__name__)

TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"


@dataclass
class Forward:
    """The two streams of one forwarded connection and its relay task."""

    key: str
    port: int
    error_stream: int = 0
    data_stream: int = 0
    inbox: asyncio.Queue[api_pb2.PortForwardRequest | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class SpdyPortForward:
    """Serves one tunnelled SPDY connection: replies to streams, relays each request id's port."""

    def __init__(self, ws: web.WebSocketResponse, logs: KubeletLogs, target: str,
                 start: api_pb2.PortForwardStart) -> None:
        self.ws = ws
        self.logs = logs
        self.target = target
        self.start = start
        self.framer = spdy.Framer()
        self.lock = asyncio.Lock()  # header compression is one ordered context: one writer at a time
        self.forwards: dict[str, Forward] = {}
        self.by_stream: dict[int, Forward] = {}
        self.last_stream = 0

    async def write(self, frame: bytes) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(frame)

    async def serve(self) -> None:
        try:
            async for data in binary_messages(self.ws):
                for frame in self.framer.feed(data):
                    if not await self.handle(frame):
                        return
        except spdy.SpdyError as exc:
            log.info("port-forward: SPDY protocol error", extra={"error": str(exc)})
        finally:
            tasks = [f.task for f in self.forwards.values() if f.task is not None]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def handle(self, frame: spdy.Frame) -> bool:
        """Act on one frame; False when the connection is over."""
        if isinstance(frame, spdy.SynStream):
            await self.open_stream(frame)
        elif isinstance(frame, spdy.Data):
            forward = self.by_stream.get(frame.stream_id)
            if forward is not None and frame.stream_id == forward.data_stream:
                if frame.data:
                    await forward.inbox.put(api_pb2.PortForwardRequest(data=frame.data))
                if frame.fin:
                    await forward.inbox.put(api_pb2.PortForwardRequest(close_write=True))
        elif isinstance(frame, spdy.RstStream):
            forward = self.by_stream.get(frame.stream_id)
            if forward is not None and forward.task is not None:
                forward.task.cancel()
        elif isinstance(frame, spdy.Ping):
            async with self.lock:
                await self.write(self.framer.ping(frame.ping_id))
        elif isinstance(frame, spdy.GoAway):
            return False
        return True

    async def open_stream(self, frame: spdy.SynStream) -> None:
        self.last_stream = max(self.last_stream, frame.stream_id)
        async with self.lock:
            await self.write(self.framer.syn_reply(frame.stream_id))
        kind = (frame.headers.get("streamtype") or [""])[0]
        request_id = (frame.headers.get("requestid") or [""])[0]
        try:
            port = int((frame.headers.get("port") or [""])[0])
        except ValueError:
            port = 0
        if kind not in ("error", "data") or not 0 < port < 65536:
            async with self.lock:
                await self.write(self.framer.rst_stream(frame.stream_id, spdy.RST_PROTOCOL_ERROR))
            return
        key = request_id or str(frame.stream_id)
        forward = self.forwards.setdefault(key, Forward(key, port))
        if kind == "error":
            forward.error_stream = frame.stream_id
        else:
            forward.data_stream = frame.stream_id
        self.by_stream[frame.stream_id] = forward
        if forward.error_stream and forward.data_stream and forward.task is None:
            forward.task = asyncio.create_task(self.relay(forward))

    async def requests(self, forward: Forward) -> AsyncIterator[api_pb2.PortForwardRequest]:
        while (item := await forward.inbox.get()) is not None:
            yield item

    async def relay(self, forward: Forward) -> None:
        start = api_pb2.PortForwardStart()
        start.CopyFrom(self.start)
        start.port = forward.port
        message = b""
        try:
            async with contextlib.aclosing(self.logs.port_forward(self.target, start, self.requests(forward))) as out:
                async for response in out:
                    for at in range(0, len(response.data), 32 * 1024):
                        await self.write(self.framer.data(forward.data_stream, response.data[at:at + 32 * 1024]))
        except ApiError as err:
            message = err.message.encode()
        finally:
            await self.write(self.framer.data(forward.data_stream, b"", fin=True))
            await self.write(self.framer.data(forward.error_stream, message, fin=True))
            for stream_id in (forward.data_stream, forward.error_stream):
                self.by_stream.pop(stream_id, None)
            self.forwards.pop(forward.key, None)


async def serve_tunnel(request: web.Request, logs: KubeletLogs, target: str,
                       start: api_pb2.PortForwardStart) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), max_msg_size=spdy.MAX_FRAME, autoping=True)
    await ws.prepare(request)
    session = SpdyPortForward(ws, logs, target, start)
    try:
        await session.serve()
    finally:
        async with session.lock:
            await session.write(session.framer.goaway(session.last_stream))
        await ws.close()
    log.info("port-forward (SPDY over WebSocket) ended", extra={"pod": f"{start.namespace}/{start.name}"})
    return ws

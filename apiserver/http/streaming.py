"""`pods/exec` and `pods/attach` over WebSocket, the channel protocols `v5.channel.k8s.io` / `v4.channel.k8s.io`.

Why WebSocket only: kubectl 1.32 tries a WebSocket upgrade with `v5.channel.k8s.io` first and
falls back to SPDY only when that upgrade fails, and the official Python client speaks
`v4.channel.k8s.io`; aiohttp does the WebSocket framing. Every binary message starts with one
byte naming its stream: 0 stdin, 1 stdout, 2 stderr, 3 error (one `Status` JSON when the
command ends: Success, or Failure with reason NonZeroExitCode and an ExitCode cause), 4 resize
(`{"Width":W,"Height":H}`); v5 adds 255 = "close stream" (payload: the stream id), which is
how `kubectl cp` ends the stdin of `tar`.

The pod and container are checked before the upgrade, so those refusals are plain `Status`
responses; the command runs through the same kubelet Exec relay as `kctl exec`
(`apiserver.logs.KubeletLogs`); what fails after the upgrade goes to the error stream.
Attach is the same conversation without a command: the kubelet streams the container's own
output (its `Attach` call) until the container ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from multidict import MultiMapping

from apiserver.http.errors import MethodNotAllowed
from apiserver.http.podlogs import query_bool
from apiserver.http.routing import RequestInfo
from apiserver.logs import KubeletLogs
from kubelite.api.errors import ApiError, BadRequest
from kubelite.pb.kubelite import api_pb2

log = logging.getLogger(__name__)

V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
CHANNEL_PROTOCOLS = (V5, V4)
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
MAX_MESSAGE = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExecOptions:
    """Kubernetes' `PodExecOptions` from a query string (`command` repeats)."""

    command: tuple[str, ...]
    container: str = ""
    stdin: bool = False
    stdout: bool = False
    stderr: bool = False
    tty: bool = False

    @classmethod
    def parse(cls, query: MultiMapping[str], attach: bool = False) -> ExecOptions:
        """`PodExecOptions`, or with `attach` `PodAttachOptions` (the same without a command)."""
        options = cls(command=tuple(query.getall("command", [])), container=query.get("container", ""),
                      stdin=query_bool(query, "stdin"), stdout=query_bool(query, "stdout"),
                      stderr=query_bool(query, "stderr"), tty=query_bool(query, "tty"))
        if attach and options.command:
            raise BadRequest("PodAttachOptions: attach takes no command (use pods/exec to run one)")
        if not options.command and not attach:
            raise BadRequest("PodExecOptions is invalid: command: Required value: you must specify a command "
                             "(query parameter `command`, repeated per argument)")
        if not (options.stdin or options.stdout or options.stderr):
            raise BadRequest("you must specify at least 1 of stdin, stdout, stderr")
        if options.tty and options.stderr:
            raise BadRequest("PodExecOptions is invalid: stderr: tty and stderr cannot both be true "
                             "(a terminal merges them)")
        return options


def offered_protocols(request: web.Request) -> list[str]:
    return [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]


def negotiate(request: web.Request) -> str:
    """The channel protocol to speak (the client's first that we serve), or a clear 400."""
    if request.method != "GET" or request.headers.get("Upgrade", "").lower() != "websocket":
        upgrade = request.headers.get("Upgrade", "") or "none"
        raise BadRequest(f"pods/{request.path.rsplit('/', 1)[-1]} needs a WebSocket upgrade (GET with Upgrade: "
                         f"websocket and a subprotocol of {', '.join(CHANNEL_PROTOCOLS)}); got {request.method} "
                         f"with Upgrade: {upgrade} (SPDY is not served)")
    for protocol in offered_protocols(request):
        if protocol in CHANNEL_PROTOCOLS:
            return protocol
    raise BadRequest(f"unsupported WebSocket subprotocols {offered_protocols(request)}: this server speaks "
                     f"{', '.join(CHANNEL_PROTOCOLS)}")


def exit_status(code: int, command: tuple[str, ...]) -> dict[str, Any]:
    """The error stream's last word (v4/v5): Success, or NonZeroExitCode with the code as a cause."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure_status(err: ApiError) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": err.message, "reason": err.reason, "code": err.code}


async def binary_messages(ws: web.WebSocketResponse) -> AsyncIterator[bytes]:
    """The client's binary messages until it closes (text and control messages carry nothing here)."""
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            yield bytes(msg.data)
        elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            break


def client_message(data: bytes, protocol: str) -> api_pb2.ExecRequest | None:
    """What a client's binary message asks of the command (None: nothing to forward)."""
    if not data:
        return None
    channel, payload = data[0], data[1:]
    if channel == STDIN:
        return api_pb2.ExecRequest(stdin=payload) if payload else None
    if channel == RESIZE:
        try:
            size = json.loads(payload)
            width, height = int(size.get("Width", 0)), int(size.get("Height", 0))
        except (ValueError, TypeError, AttributeError):
            return None  # a malformed resize is dropped, like Kubernetes does
        if width > 0 and height > 0:
            return api_pb2.ExecRequest(width=min(width, 0xFFFF), height=min(height, 0xFFFF))
        return None
    if channel == CLOSE and protocol == V5 and payload[:1] == bytes([STDIN]):
        return api_pb2.ExecRequest(close_stdin=True)
    return None


class ExecStream:
    """One exec over one WebSocket: client messages -> kubelet, kubelet output -> client."""

    def __init__(self, ws: web.WebSocketResponse, protocol: str, options: ExecOptions, method: str = "Exec") -> None:
        self.method = method
        self.ws = ws
        self.protocol = protocol
        self.options = options
        self.inbox: asyncio.Queue[api_pb2.ExecRequest | None] = asyncio.Queue()

    async def requests(self) -> AsyncIterator[api_pb2.ExecRequest]:
        while (item := await self.inbox.get()) is not None:
            yield item

    async def read_client(self, relay: asyncio.Task[None]) -> None:
        """Forward the client's stdin/resize/close; the client going away ends the exec."""
        try:
            async for data in binary_messages(self.ws):
                forward = client_message(data, self.protocol)
                if forward is not None:
                    await self.inbox.put(forward)
        finally:
            await self.inbox.put(None)
            if not relay.done():
                relay.cancel()

    async def send(self, channel: int, data: bytes) -> None:
        """One message to the client; dropped once it went away (its reader then ends the relay)."""
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(bytes([channel]) + data)

    async def relay(self, logs: KubeletLogs, target: str, first: api_pb2.ExecRequest) -> None:
        status: dict[str, Any] | None = None
        try:
            responses = logs.exec_at(target, first, self.requests(), self.method)
            async with contextlib.aclosing(responses):
                async for response in responses:
                    if response.stdout and self.options.stdout:
                        await self.send(STDOUT, response.stdout)
                    if response.stderr and self.options.stderr:
                        await self.send(STDERR, response.stderr)
                    if response.exited:
                        status = exit_status(response.exit_code, self.options.command)
        except ApiError as err:
            status = failure_status(err)
        if status is None:
            status = failure_status(ApiError.from_status({
                "reason": "InternalError", "code": 500, "message": "the kubelet ended the exec without an exit code"}))
        await self.send(ERROR, json.dumps(status).encode())


async def serve_exec(request: web.Request, info: RequestInfo, logs: KubeletLogs) -> web.StreamResponse:
    """pods/exec: check pod, container and options, upgrade to WebSocket, run the command."""
    return await _serve(request, info, logs, "exec")


async def serve_attach(request: web.Request, info: RequestInfo, logs: KubeletLogs) -> web.StreamResponse:
    """pods/attach: like exec, but streams the container's own output (conmon's attach socket)."""
    return await _serve(request, info, logs, "attach")


async def _serve(request: web.Request, info: RequestInfo, logs: KubeletLogs, what: str) -> web.StreamResponse:
    if request.method not in ("GET", "POST"):
        raise MethodNotAllowed(f"the server does not allow this method on pods/{what}: {request.method}")
    options = ExecOptions.parse(request.query, attach=what == "attach")
    start = api_pb2.ExecStart(namespace=info.namespace, name=info.name, container=options.container,
                              command=list(options.command), tty=options.tty, stdin=options.stdin)
    target, first = await logs.prepare_exec(start, what)  # first: a refusal here is what the user must see
    protocol = negotiate(request)
    ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=MAX_MESSAGE, autoclose=True, autoping=True)
    await ws.prepare(request)
    stream = ExecStream(ws, protocol, options, "Attach" if what == "attach" else "Exec")
    relay = asyncio.create_task(stream.relay(logs, target, first))
    reader = asyncio.create_task(stream.read_client(relay))
    try:
        await asyncio.wait({relay})  # ends when the command ends or the client went away (relay cancelled)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        if not relay.done():
            relay.cancel()
        await ws.close()
    log.info("pod stream over websocket ended",
             extra={"subresource": what, "pod": f"{info.namespace}/{info.name}", "protocol": protocol})
    return ws

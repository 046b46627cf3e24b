"""How an `ApiClient` reaches the apiserver: over gRPC in production, or by
calling a `ResourceHandler` (the wire contract in `kubelite.wire`) directly in tests.

Why a transport seam: every component (controllers, scheduler, kubelet, kctl)
is written against `ApiClient`; swapping the wire for an in-process call lets
their unit tests run without sockets, and lets the apiserver's own tests drive
its handler through exactly the code path real clients use.

Errors always surface as `api.errors.ApiError` subclasses, whichever transport
is used: the gRPC transport rebuilds them from the `kubelite-status-bin`
trailing metadata (a Kubernetes `Status` JSON) or, when a status is missing
(the apiserver is down, a proxy answered), from the gRPC status code.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar, cast

import grpc
import grpc.aio
from google.protobuf.message import Message

from kubelite.api.errors import ApiError
from kubelite.pb.kubelite import api_pb2
from kubelite.wire import (
    BIDI_METHODS,
    MAX_MESSAGE_BYTES,
    REASONS,
    SERVICE,
    STATUS_METADATA_KEY,
    STREAM_METHODS,
    UNARY_METHODS,
    ResourceHandler,
)

log = logging.getLogger("client.transport")
_M = TypeVar("_M", bound=Message)
_T = TypeVar("_T")
_Req = TypeVar("_Req", bound=Message)


# Why these channel options: lists of thousands of objects exceed gRPC's 4 MiB
# default; keepalive notices a silently dead peer under a long idle watch; and
# gRPC's default reconnect back-off grows to 2 minutes, far too slow for an
# apiserver that is restarted (clients retry on their own schedule anyway).
# `min_reconnect_backoff_ms` is, despite its name, gRPC's minimum *connect
# timeout*: how long one attempt (TCP, TLS handshake, HTTP/2 settings) may take.
# It stays gRPC's own 20 s: cut at the back-off (0.1-2 s), a busy or emulated
# machine never finished a handshake, and every client there failed for minutes
# ("tcp handshaker shutdown"); a restarted apiserver refuses at once, so fast
# reconnects keep coming from the short back-off.
CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.http2.max_pings_without_data": 0,
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 20_000,
    "grpc.max_reconnect_backoff_ms": 2_000,
}

# Options for the *servers* our clients talk to (apiserver, kubelet):
# `grpc.aio.server(options=SERVER_OPTIONS)`. A default gRPC server accepts a
# keepalive ping at most every 5 minutes and answers faster pings on an idle
# stream with GOAWAY "too_many_pings", which would cut every idle watch.
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_ping_strikes", 0),
]


class Transport(Protocol):
    """The wire seam: `unary("Get", GetRequest)` / `stream("Watch", WatchRequest)` /
    `bidi("Exec", requests)`."""

    async def unary(self, method: str, request: Message) -> Message: ...
    def stream(self, method: str, request: Message) -> AsyncIterator[Message]: ...
    def bidi(self, method: str, requests: AsyncIterator[Message]) -> AsyncIterator[Message]: ...
    async def close(self) -> None: ...


def _error(reason: str, code: int, message: str) -> ApiError:
    return ApiError.from_status(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": message}
    )


def error_from_rpc(err: grpc.aio.AioRpcError, target: str, method: str) -> ApiError:
    """Rebuild the apiserver's ApiError from a failed call.

    Prefers the Status JSON in the trailing metadata (exact reason, message and
    field causes); falls back to the gRPC code so that an unreachable or
    foreign server still yields a clear, typed error.
    """
    metadata = cast("list[tuple[str, str | bytes]]", list(err.trailing_metadata() or ()))
    for key, value in metadata:
        if key != STATUS_METADATA_KEY:
            continue
        try:
            raw = value if isinstance(value, bytes) else value.encode()
            status = json.loads(raw)
            if isinstance(status, dict):
                return ApiError.from_status(status)
        except ValueError:
            log.warning("undecodable %s from %s", STATUS_METADATA_KEY, target)
    code = err.code()
    details = err.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        return _error("ServiceUnavailable", 503, f"apiserver unreachable at {target}: {details}".rstrip(": "))
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return _error("Timeout", 504, f"{method} to apiserver at {target} timed out")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return _error("InternalError", 500, f"apiserver at {target} does not implement {method}: {details}")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in details:
        # A message over the channel's size limit never left (or never reached) a server: the
        # request is too large, not the server unavailable. (Bodies over 3 MiB that do arrive
        # get the apiserver's own 413.)
        return _error("RequestEntityTooLarge", 413, f"Request entity too large: {details}")
    reason, http = REASONS.get(code, ("InternalError", 500))
    name = code.name if code is not None else "UNKNOWN"
    return _error(reason, http, details or f"{method} failed with gRPC status {name}")


class _Unary(Generic[_Req, _M]):
    """A handler-style method (`await transport.Get(request)`) named after the attribute it is
    assigned to: the unary call of that name, its answer checked to be a `response`."""

    def __init__(self, response: type[_M]) -> None:
        self.response = response
        self.method = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.method = name

    def __get__(self, transport: GrpcTransport, owner: type | None = None) -> Callable[[_Req], Awaitable[_M]]:
        async def call(request: _Req) -> _M:
            message = await transport.unary(self.method, request)
            if not isinstance(message, self.response):
                raise TypeError(f"expected {self.response.__name__}, got {type(message).__name__}")
            return message

        return call


class GrpcTransport:
    """`kubelite.v1.Resources` over one grpc.aio channel.

    The channel is created lazily, inside the running event loop, because
    grpc.aio binds a channel to the loop that exists when it is made and
    `ApiClient.connect()` may be called before a loop runs. Unary calls get a
    default deadline; streams have none and are cancelled when the consumer
    stops iterating (or on `close()`), so no call outlives its reader.
    """

    def __init__(self, target: str, *, timeout: float | None = 30.0, options: dict[str, Any] | None = None,
                 metadata: Sequence[tuple[str, str]] = (), credentials: grpc.ChannelCredentials | None = None):
        self.target = target
        self.credentials = credentials  # TLS (CA, and the client certificate = identity); None: plaintext
        self.timeout = timeout
        # Sent with every call: credentials (`authorization: Bearer ...`) and impersonation headers.
        self.metadata = tuple(metadata) or None
        self._options = list({**CHANNEL_OPTIONS, **(options or {})}.items())
        self._channel: grpc.aio.Channel | None = None
        self._unary: dict[str, Any] = {}
        self._streams: dict[str, Any] = {}
        self._bidi: dict[str, Any] = {}
        self._active: set[Any] = set()  # open stream calls, cancelled on close()
        self._retired: list[grpc.aio.Channel] = []  # channels of earlier credentials, closed on close()
        self._closed = False

    def rotate_credentials(self, credentials: grpc.ChannelCredentials) -> None:
        """Use new TLS credentials (a renewed client certificate) for every call from now on.

        Calls already running keep their connection (its TLS session stays valid) and end on their own;
        the old channel is closed with the transport.
        """
        self.credentials = credentials
        if self._channel is not None:
            self._retired.append(self._channel)
            self._channel = None

    def _get_channel(self) -> grpc.aio.Channel:
        if self._closed:
            raise _error("ServiceUnavailable", 503, f"client for apiserver at {self.target} is closed")
        if self._channel is None:
            if self.credentials is not None:
                self._channel = grpc.aio.secure_channel(self.target, self.credentials, options=self._options)
            else:
                self._channel = grpc.aio.insecure_channel(self.target, options=self._options)
            for name, (req, resp) in UNARY_METHODS.items():
                self._unary[name] = self._channel.unary_unary(
                    f"/{SERVICE}/{name}", request_serializer=req.SerializeToString, response_deserializer=resp.FromString
                )
            for name, (req, resp) in STREAM_METHODS.items():
                self._streams[name] = self._channel.unary_stream(
                    f"/{SERVICE}/{name}", request_serializer=req.SerializeToString, response_deserializer=resp.FromString
                )
            for name, (req, resp) in BIDI_METHODS.items():
                self._bidi[name] = self._channel.stream_stream(
                    f"/{SERVICE}/{name}", request_serializer=req.SerializeToString, response_deserializer=resp.FromString
                )
        return self._channel

    async def unary(self, method: str, request: Message) -> Message:
        self._get_channel()
        try:
            call = self._unary[method]
        except KeyError:
            raise ValueError(f"unknown unary method {method!r}") from None
        try:
            response: Message = await call(request, timeout=self.timeout, metadata=self.metadata)
        except grpc.aio.AioRpcError as err:
            raise error_from_rpc(err, self.target, method) from None
        except asyncio.CancelledError:
            self._raise_if_closed_under_us()
            raise
        return response

    def _raise_if_closed_under_us(self) -> None:
        """grpc.aio reports calls cut by close() as CancelledError; only a
        cancellation of the calling task itself may propagate as such."""
        task = asyncio.current_task()
        if self._closed and task is not None and task.cancelling() == 0:
            raise _error("ServiceUnavailable", 503, f"client for apiserver at {self.target} was closed") from None

    async def stream(self, method: str, request: Message) -> AsyncGenerator[Message, None]:
        self._get_channel()
        try:
            multi = self._streams[method]
        except KeyError:
            raise ValueError(f"unknown stream method {method!r}") from None
        async for message in self._relay(multi(request, metadata=self.metadata), method):
            yield message

    async def bidi(self, method: str, requests: AsyncIterator[Message]) -> AsyncGenerator[Message, None]:
        """A bidirectional call: `requests` is consumed by gRPC as the call goes on."""
        self._get_channel()
        try:
            multi = self._bidi[method]
        except KeyError:
            raise ValueError(f"unknown bidi method {method!r}") from None
        async for message in self._relay(multi(requests, metadata=self.metadata), method):
            yield message

    async def _relay(self, call: Any, method: str) -> AsyncGenerator[Message, None]:
        """Yield a streaming call's messages with errors mapped; the call is cancelled on exit."""
        self._active.add(call)
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as err:
            raise error_from_rpc(err, self.target, method) from None
        except asyncio.CancelledError:
            self._raise_if_closed_under_us()
            raise
        finally:
            self._active.discard(call)
            call.cancel()

    async def close(self) -> None:
        """Cancel open streams and close the channel; later calls fail clearly."""
        self._closed = True
        for call in list(self._active):
            call.cancel()
        self._active.clear()
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close(None)
        retired, self._retired = self._retired, []
        for old in retired:
            await old.close(None)

    # The apiserver's handler methods, so a GrpcTransport can stand in for a
    # ResourceHandler (benchmarks and tools call `transport.List(...)`).
    Create = _Unary[api_pb2.CreateRequest, api_pb2.Object](api_pb2.Object)
    Get = _Unary[api_pb2.GetRequest, api_pb2.Object](api_pb2.Object)
    List = _Unary[api_pb2.ListRequest, api_pb2.ListResponse](api_pb2.ListResponse)
    Update = _Unary[api_pb2.UpdateRequest, api_pb2.Object](api_pb2.Object)
    UpdateStatus = _Unary[api_pb2.UpdateRequest, api_pb2.Object](api_pb2.Object)
    Delete = _Unary[api_pb2.DeleteRequest, api_pb2.Object](api_pb2.Object)
    Bind = _Unary[api_pb2.BindRequest, api_pb2.Object](api_pb2.Object)


class LocalTransport:
    """Calls a `ResourceHandler` in-process.

    Requests and responses are copied through their wire encoding so that the
    caller and the handler never share a mutable message, just as over gRPC.
    Unexpected handler exceptions become InternalError, mirroring what the
    gRPC servicer sends, so tests see the production error surface.
    """

    def __init__(self, handler: ResourceHandler):
        self.handler = handler
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise _error("ServiceUnavailable", 503, "local transport is closed")

    async def unary(self, method: str, request: Message) -> Message:
        self._check_open()
        if method not in UNARY_METHODS:
            raise ValueError(f"unknown unary method {method!r}")
        fn: Callable[[Message], Any] = getattr(self.handler, method)
        try:
            response: Message = await fn(_copy(request))
        except ApiError:
            raise
        except Exception as exc:
            log.exception("handler %s failed", method)
            raise _error("InternalError", 500, f"{method}: {exc}") from exc
        return _copy(response)

    def stream(self, method: str, request: Message) -> AsyncGenerator[Message, None]:
        def open_stream() -> AsyncIterator[Message]:
            if method not in STREAM_METHODS:
                raise ValueError(f"unknown stream method {method!r}")
            fn: Callable[[Message], AsyncIterator[Message]] = getattr(self.handler, method)
            return fn(_copy(request))

        return self._relay(method, open_stream)

    def bidi(self, method: str, requests: AsyncIterator[Message]) -> AsyncGenerator[Message, None]:
        def open_stream() -> AsyncIterator[Message]:
            if method not in BIDI_METHODS:
                raise ValueError(f"unknown bidi method {method!r}")
            fn: Callable[[AsyncIterator[Message]], AsyncIterator[Message]] = getattr(self.handler, method)

            async def copied() -> AsyncIterator[Message]:
                async for request in requests:
                    yield _copy(request)

            return fn(copied())

        return self._relay(method, open_stream)

    async def _relay(self, method: str, open_stream: Callable[[], AsyncIterator[Message]],
                     ) -> AsyncGenerator[Message, None]:
        """Copies of what a handler's stream yields (opened on first iteration, as a handler
        call would be); its unexpected errors become InternalError."""
        self._check_open()
        source = open_stream()
        try:
            async for message in source:
                yield _copy(message)
        except ApiError:
            raise
        except Exception as exc:
            log.exception("handler %s failed", method)
            raise _error("InternalError", 500, f"{method}: {exc}") from exc
        finally:
            await aclose_iterator(source)

    async def close(self) -> None:
        self._closed = True


def _copy(message: _M) -> _M:
    return type(message).FromString(message.SerializeToString())


async def aclose_iterator(iterator: AsyncIterator[Any]) -> None:
    """Close an async iterator if it can be closed (generators, gRPC streams)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


@asynccontextmanager
async def closing_stream(iterator: AsyncIterator[_T]) -> AsyncIterator[AsyncIterator[_T]]:
    """`async with closing_stream(transport.stream(...)) as s:` ends the call on exit.

    Why: an abandoned async generator is only closed when garbage collected,
    which can leave a gRPC stream (and its server-side watcher) open; closing
    it explicitly ends the call as soon as the reader stops.
    """
    try:
        yield iterator
    finally:
        await aclose_iterator(iterator)

"""The gRPC face of the apiserver: `kubelite.v1.Resources` over a ResourceHandler.

Deliberately thin: decode is done by grpc, the work by the handler. This layer
only turns outcomes into wire statuses — an ApiError becomes the gRPC code from
the table in api.proto plus the Kubernetes Status JSON in the trailing metadata
key `kubelite-status-bin` — and makes sure nothing a client sends can crash the
server: unexpected exceptions are logged and answered with INTERNAL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message

from kubelite.api.errors import ApiError
from kubelite.client.transport import (
    BIDI_METHODS,
    STATUS_METADATA_KEY,
    STREAM_METHODS,
    UNARY_METHODS,
    ResourceHandler,
)
from kubelite.daemon.metrics import Metrics
from kubelite.pb.kubelite import api_pb2

log = logging.getLogger(__name__)

SERVICE = "kubelite.v1.Resources"

CODES: dict[str, grpc.StatusCode] = {
    "NotFound": grpc.StatusCode.NOT_FOUND,
    "AlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "Conflict": grpc.StatusCode.ABORTED,
    "Invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "BadRequest": grpc.StatusCode.INVALID_ARGUMENT,
    "Expired": grpc.StatusCode.OUT_OF_RANGE,
    "Gone": grpc.StatusCode.OUT_OF_RANGE,
    "Forbidden": grpc.StatusCode.PERMISSION_DENIED,
    "Timeout": grpc.StatusCode.DEADLINE_EXCEEDED,
    "ServiceUnavailable": grpc.StatusCode.UNAVAILABLE,
    "InternalError": grpc.StatusCode.INTERNAL,
}



def grpc_code(err: ApiError) -> grpc.StatusCode:
    return CODES.get(err.reason, grpc.StatusCode.INTERNAL if err.code >= 500 else grpc.StatusCode.UNKNOWN)


def status_metadata(err: ApiError) -> tuple[tuple[str, bytes], ...]:
    return ((STATUS_METADATA_KEY, json.dumps(err.to_status()).encode()),)


def _internal(method: str, exc: BaseException) -> ApiError:
    return ApiError.from_status({"reason": "InternalError", "code": 500, "message": f"{method}: internal error: {exc}"})


def _resource(request: Message) -> str:
    pod_scoped = api_pb2.BindRequest | api_pb2.LogsRequest | api_pb2.ExecRequest
    return str(getattr(request, "resource", "") or ("pods" if isinstance(request, pod_scoped) else ""))


class ResourcesServicer:
    """Adapts a ResourceHandler to grpc.aio, counting requests by verb, resource and code."""

    def __init__(self, handler: ResourceHandler, metrics: Metrics | None = None) -> None:
        self._handler = handler
        self._metrics = metrics or Metrics()

    def _count(self, verb: str, resource: str, code: str) -> None:
        self._metrics.inc("apiserver_requests_total", help_text="API requests by verb, resource and result code",
                          verb=verb, resource=resource, code=code)

    def _unary(self, method: str) -> Callable[[Message, grpc.aio.ServicerContext[Any, Any]], Awaitable[Message]]:
        fn: Callable[[Message], Awaitable[Message]] = getattr(self._handler, method)

        async def handle(request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> Message:
            start = time.perf_counter()
            code = "OK"
            try:
                return await fn(request)
            except ApiError as err:
                code = err.reason
                await context.abort(grpc_code(err), err.message, trailing_metadata=status_metadata(err))
                raise  # unreachable: abort raises
            except Exception as exc:
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                code = "InternalError"
                log.exception("request failed", extra={"method": method, "resource": _resource(request)})
                failure = _internal(method, exc)
                await context.abort(
                    grpc.StatusCode.INTERNAL, failure.message, trailing_metadata=status_metadata(failure)
                )
                raise
            finally:
                self._count(method, _resource(request), code)
                elapsed = time.perf_counter() - start
                self._metrics.inc("apiserver_request_seconds_total", elapsed, verb=method)

        return handle

    def _stream(self, method: str) -> Callable[[Message, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Message]]:
        fn: Callable[[Message], AsyncIterator[Message]] = getattr(self._handler, method)

        async def handle(request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Message]:
            async for message in self._relay(fn(request), context, method, _resource(request)):
                yield message

        return handle

    def _bidi(
        self, method: str
    ) -> Callable[[AsyncIterator[Message], grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Message]]:
        fn: Callable[[AsyncIterator[Message]], AsyncIterator[Message]] = getattr(self._handler, method)

        async def handle(
            requests: AsyncIterator[Message], context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Message]:
            async for message in self._relay(fn(requests), context, method, "pods"):
                yield message

        return handle

    async def _relay(self, source: AsyncIterator[Message], context: grpc.aio.ServicerContext[Any, Any],
                     method: str, resource: str) -> AsyncIterator[Message]:
        """Stream `source` out; ApiErrors become gRPC status + Status metadata, anything else Internal."""
        code = "OK"
        try:
            async with contextlib.aclosing(source) as messages:  # type: ignore[type-var]
                async for message in messages:
                    yield message
        except ApiError as err:
            code = err.reason
            context.set_trailing_metadata(status_metadata(err))
            context.set_code(grpc_code(err))
            context.set_details(err.message)
        except Exception as exc:
            code = "InternalError"
            log.exception("stream failed", extra={"method": method, "resource": resource})
            failure = _internal(method, exc)
            context.set_trailing_metadata(status_metadata(failure))
            context.set_code(grpc.StatusCode.INTERNAL)
            context.set_details(failure.message)
        finally:
            self._count(method, resource, code)

    def generic_handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for name, (req, resp) in UNARY_METHODS.items():
            handlers[name] = grpc.unary_unary_rpc_method_handler(
                self._unary(name), request_deserializer=req.FromString, response_serializer=resp.SerializeToString
            )
        for name, (req, resp) in STREAM_METHODS.items():
            handlers[name] = grpc.unary_stream_rpc_method_handler(
                self._stream(name), request_deserializer=req.FromString, response_serializer=resp.SerializeToString
            )
        for name, (req, resp) in BIDI_METHODS.items():
            handlers[name] = grpc.stream_stream_rpc_method_handler(
                self._bidi(name), request_deserializer=req.FromString, response_serializer=resp.SerializeToString
            )
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

"""The `kubelite.v1.Resources` wire contract, shared by the client and the apiserver.

Why its own layer: both ends must agree on the service name, the method table
(which RPC carries which protobuf messages, unary or streaming), where an
error's Kubernetes `Status` travels, and how `Status` reasons map to gRPC codes.
Before, this lived in `kubelite.client.transport`, so the server imported the
client library to learn its own interface. Here it sits below both: it imports
only `kubelite.pb` and `kubelite.api` (for the error type).

`ResourceHandler` is the protobuf-level face of the service: the apiserver's
gRPC adapter implements it, `LocalTransport` calls one in-process, and test
fakes implement it to stand in for an apiserver.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Protocol

import grpc
from google.protobuf.message import Message

from kubelite.api.errors import ApiError
from kubelite.pb.kubelite import api_pb2

SERVICE = "kubelite.v1.Resources"
STATUS_METADATA_KEY = "kubelite-status-bin"
"""Trailing metadata key holding the failed call's Kubernetes `Status` JSON."""
LOG_ACCEPTED_KEY = "kubelite-log-accepted"
"""Initial metadata of a kubelet Logs call that found its log: output may follow much later."""

MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# method -> (request type, response type); the proto is the source of truth.
UNARY_METHODS: dict[str, tuple[type[Message], type[Message]]] = {
    "Create": (api_pb2.CreateRequest, api_pb2.Object),
    "Get": (api_pb2.GetRequest, api_pb2.Object),
    "List": (api_pb2.ListRequest, api_pb2.ListResponse),
    "Update": (api_pb2.UpdateRequest, api_pb2.Object),
    "UpdateStatus": (api_pb2.UpdateRequest, api_pb2.Object),
    "Delete": (api_pb2.DeleteRequest, api_pb2.Object),
    "Bind": (api_pb2.BindRequest, api_pb2.Object),
}
STREAM_METHODS: dict[str, tuple[type[Message], type[Message]]] = {
    "Watch": (api_pb2.WatchRequest, api_pb2.WatchEvent),
    "Logs": (api_pb2.LogsRequest, api_pb2.LogChunk),
}
# Bidirectional streams: the request side is an async iterator too.
BIDI_METHODS: dict[str, tuple[type[Message], type[Message]]] = {
    "Exec": (api_pb2.ExecRequest, api_pb2.ExecResponse),
    "PortForward": (api_pb2.PortForwardRequest, api_pb2.PortForwardResponse),
}

# Status reason -> gRPC code: the table in api.proto (server side).
GRPC_CODES: dict[str, grpc.StatusCode] = {
    "NotFound": grpc.StatusCode.NOT_FOUND,
    "AlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "Conflict": grpc.StatusCode.ABORTED,
    "Invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "BadRequest": grpc.StatusCode.INVALID_ARGUMENT,
    "Expired": grpc.StatusCode.OUT_OF_RANGE,
    "Gone": grpc.StatusCode.OUT_OF_RANGE,
    "Forbidden": grpc.StatusCode.PERMISSION_DENIED,
    "Unauthorized": grpc.StatusCode.UNAUTHENTICATED,
    "Timeout": grpc.StatusCode.DEADLINE_EXCEEDED,
    "TooManyRequests": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "ServiceUnavailable": grpc.StatusCode.UNAVAILABLE,
    "InternalError": grpc.StatusCode.INTERNAL,
}

# gRPC code -> (Status reason, HTTP code): the inverse, for a failure that carries no Status (client side).
REASONS: dict[grpc.StatusCode, tuple[str, int]] = {
    grpc.StatusCode.NOT_FOUND: ("NotFound", 404),
    grpc.StatusCode.ALREADY_EXISTS: ("AlreadyExists", 409),
    grpc.StatusCode.ABORTED: ("Conflict", 409),
    grpc.StatusCode.INVALID_ARGUMENT: ("BadRequest", 400),
    grpc.StatusCode.OUT_OF_RANGE: ("Expired", 410),
    grpc.StatusCode.PERMISSION_DENIED: ("Forbidden", 403),
    grpc.StatusCode.UNAUTHENTICATED: ("Unauthorized", 401),
    grpc.StatusCode.DEADLINE_EXCEEDED: ("Timeout", 504),
    grpc.StatusCode.UNAVAILABLE: ("ServiceUnavailable", 503),
    grpc.StatusCode.RESOURCE_EXHAUSTED: ("ServiceUnavailable", 503),
    grpc.StatusCode.CANCELLED: ("ServiceUnavailable", 503),
}


def grpc_code(err: ApiError) -> grpc.StatusCode:
    """The gRPC status code an ApiError travels with."""
    return GRPC_CODES.get(err.reason, grpc.StatusCode.INTERNAL if err.code >= 500 else grpc.StatusCode.UNKNOWN)


def status_metadata(err: ApiError) -> tuple[tuple[str, bytes], ...]:
    """The trailing metadata that carries `err` as a Kubernetes Status (pass it through
    `statusfit.fit_for_metadata` first, so message and Status fit gRPC's metadata limit)."""
    return ((STATUS_METADATA_KEY, json.dumps(err.to_status()).encode()),)


class ResourceHandler(Protocol):
    """One method per `kubelite.v1.Resources` RPC, in protobuf messages.

    Methods raise `api.errors.ApiError` subclasses; the gRPC servicer turns them
    into statuses, `LocalTransport` hands them straight to the caller.
    """

    async def Create(self, request: api_pb2.CreateRequest) -> api_pb2.Object: ...
    async def Get(self, request: api_pb2.GetRequest) -> api_pb2.Object: ...
    async def List(self, request: api_pb2.ListRequest) -> api_pb2.ListResponse: ...
    async def Update(self, request: api_pb2.UpdateRequest) -> api_pb2.Object: ...
    async def UpdateStatus(self, request: api_pb2.UpdateRequest) -> api_pb2.Object: ...
    async def Delete(self, request: api_pb2.DeleteRequest) -> api_pb2.Object: ...
    async def Bind(self, request: api_pb2.BindRequest) -> api_pb2.Object: ...  # a success Status
    def Watch(self, request: api_pb2.WatchRequest) -> AsyncIterator[api_pb2.WatchEvent]: ...
    def Logs(self, request: api_pb2.LogsRequest) -> AsyncIterator[api_pb2.LogChunk]: ...
    def Exec(self, requests: AsyncIterator[api_pb2.ExecRequest]) -> AsyncIterator[api_pb2.ExecResponse]: ...
    def PortForward(self, requests: AsyncIterator[api_pb2.PortForwardRequest],
                    ) -> AsyncIterator[api_pb2.PortForwardResponse]: ...

"""The gRPC face of the apiserver: `kubelite.v1.Resources` over the typed core.

Deliberately thin, in two parts. `ResourcesAdapter` turns each protobuf request
into a call of `ResourceService` (typed arguments, JSON bytes) and the result
back into a message -- and routes Logs/Exec/PortForward to the kubelet proxy -- so it is the
`ResourceHandler` of the wire contract and `LocalTransport` can drive it
in-process. `ResourcesServicer` binds a handler to grpc.aio and only turns
outcomes into wire statuses -- an ApiError becomes the gRPC code from the table
in api.proto plus the Kubernetes Status JSON in the trailing metadata key
`kubelite-status-bin` -- and makes sure nothing a client sends can crash the
server: unexpected exceptions are logged and answered with INTERNAL.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message

from apiserver import objects, scale, serverversion
from apiserver.access import AccessControl, AccessOptions, current_user
from apiserver.apply.manager import MAX_MANAGER_LENGTH, WriteManager, from_user_agent, writing_as
from apiserver.eviction import EVICTION_SUBRESOURCE, grpc_evict
from apiserver.grpc_access import GrpcAccess
from apiserver.logs import KubeletLogs
from apiserver.metricsapi import GRPC_RESOURCES, ResourceMetrics
from apiserver.options import DeleteOptions, ListOptions, WatchEvent, WatchOptions
from apiserver.peer import enter_call
from apiserver.service import ResourceService
from apiserver.serviceaccount.admission import TOKEN_SUBRESOURCE
from kubelite.api.errors import ApiError, BadRequest, RequestEntityTooLarge
from kubelite.api.limits import MAX_REQUEST_BODY_BYTES
from kubelite.api.rbac import REVIEW_RESOURCES
from kubelite.daemon.metrics import Metrics
from kubelite.pb.kubelite import api_pb2
from kubelite.wire import (
    BIDI_METHODS,
    SERVICE,
    STREAM_METHODS,
    UNARY_METHODS,
    ResourceHandler,
    grpc_code,
    jsoncodec,
    status_metadata,
)
from kubelite.wire.statusfit import fit_for_metadata

log = logging.getLogger(__name__)

__all__ = ["ResourcesAdapter", "ResourcesServicer", "grpc_code", "status_metadata"]



def _watch_message(event: WatchEvent) -> api_pb2.WatchEvent:
    """An event's gRPC message; made once per event and shared by every stream that sends it
    (the transport only reads it)."""
    return api_pb2.WatchEvent(type=event.type, object=event.object)


def _body(raw: bytes) -> bytes:
    """A request's object JSON, refused with 413 past 3 MiB (the transport itself allows far more,
    so the caller gets Kubernetes' error rather than a bare RESOURCE_EXHAUSTED)."""
    if len(raw) > MAX_REQUEST_BODY_BYTES:
        raise RequestEntityTooLarge(f"Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}")
    return raw


class ResourcesAdapter:
    """`ResourceHandler` (protobuf messages) over `ResourceService` (typed calls)."""

    def __init__(self, service: ResourceService, access: AccessControl | None = None,
                 kubelet_credentials: grpc.ChannelCredentials | None = None) -> None:
        self.service = service
        self.access = access or AccessControl.build(AccessOptions(), service.caches)
        self.kubelet_logs = KubeletLogs(service, kubelet_credentials)
        self.metrics = ResourceMetrics(service, self.kubelet_logs)

    async def close(self) -> None:
        await self.kubelet_logs.close()

    async def Create(self, request: api_pb2.CreateRequest) -> api_pb2.Object:
        if request.resource in REVIEW_RESOURCES:  # answered about the caller, never stored
            return api_pb2.Object(json=self.access.review(request.resource, request.json, current_user.get()))
        if request.resource == TOKEN_SUBRESOURCE:  # TokenRequest; the body's metadata.name names the SA
            return api_pb2.Object(json=await self.service.create_token(request.namespace, "", request.json))
        if request.resource == EVICTION_SUBRESOURCE:  # an Eviction; its metadata.name names the pod
            return api_pb2.Object(json=await grpc_evict(self.service, request.namespace or "default", request.json))
        return api_pb2.Object(json=await self.service.create(
            request.resource, request.namespace, _body(request.json), dry_run=request.dry_run))

    async def Get(self, request: api_pb2.GetRequest) -> api_pb2.Object:
        if request.resource == serverversion.GRPC_RESOURCE:  # what `GET /version` answers
            return api_pb2.Object(json=jsoncodec.dumps(serverversion.VERSION))
        metrics = GRPC_RESOURCES.get(request.resource)
        if metrics is not None:
            if not request.name:
                raise BadRequest("get: a name is required")
            found = await self.metrics.answer(metrics, request.namespace, request.name, ListOptions())
            return api_pb2.Object(json=jsoncodec.dumps(found))
        resource, _, subresource = request.resource.partition("/")
        if subresource == "scale":  # an autoscaling/v1 Scale, like the HTTP API's (the hpa controller reads it)
            found = await scale.get_scale(self.service, self.service.kind_for(resource), request.namespace,
                                          request.name)
            return api_pb2.Object(json=jsoncodec.dumps(found))
        return api_pb2.Object(json=await self.service.get(request.resource, request.namespace, request.name))

    async def List(self, request: api_pb2.ListRequest) -> api_pb2.ListResponse:
        options = ListOptions(label_selector=request.label_selector, field_selector=request.field_selector,
                              limit=request.limit, continue_token=getattr(request, "continue"))
        metrics = GRPC_RESOURCES.get(request.resource)
        if metrics is not None:
            answer = await self.metrics.answer(metrics, request.namespace, "", options)
            return api_pb2.ListResponse(items=[jsoncodec.dumps(item) for item in answer["items"]])
        result = await self.service.list(request.resource, request.namespace, options)
        response = api_pb2.ListResponse(resource_version=result.resource_version)
        response.items.extend(result.items)
        if result.continue_token:
            setattr(response, "continue", result.continue_token)
        return response

    async def Update(self, request: api_pb2.UpdateRequest) -> api_pb2.Object:
        resource, _, subresource = request.resource.partition("/")
        if subresource == "scale":  # spec.replicas only, through the same path as the HTTP API's
            wanted = objects.parse_body(_body(request.json))
            found = await scale.update_scale(self.service, self.service.kind_for(resource), request.namespace,
                                             request.name, scale.replace_with(wanted), dry_run=request.dry_run)
            return api_pb2.Object(json=jsoncodec.dumps(found))
        if subresource:  # an update subresource other than status (certificatesigningrequests/approval)
            return api_pb2.Object(json=await self.service.update_status(
                resource, request.namespace, request.name, request.json, dry_run=request.dry_run,
                subresource=subresource))
        return api_pb2.Object(json=await self.service.update(
            request.resource, request.namespace, request.name, _body(request.json), dry_run=request.dry_run))

    async def UpdateStatus(self, request: api_pb2.UpdateRequest) -> api_pb2.Object:
        return api_pb2.Object(json=await self.service.update_status(
            request.resource, request.namespace, request.name, _body(request.json), dry_run=request.dry_run))

    async def Delete(self, request: api_pb2.DeleteRequest) -> api_pb2.Object:
        options = DeleteOptions(
            grace_period_seconds=request.grace_period_seconds if request.HasField("grace_period_seconds") else None,
            propagation_policy=request.propagation_policy,
            precondition_uid=request.precondition_uid,
            precondition_resource_version=request.precondition_resource_version,
        )
        return api_pb2.Object(json=await self.service.delete(
            request.resource, request.namespace, request.name, options))

    async def Bind(self, request: api_pb2.BindRequest) -> api_pb2.Object:
        return api_pb2.Object(json=await self.service.bind(
            request.namespace, request.name, request.node_name, request.pod_uid))

    async def Watch(self, request: api_pb2.WatchRequest) -> AsyncIterator[api_pb2.WatchEvent]:
        options = WatchOptions(label_selector=request.label_selector, field_selector=request.field_selector,
                               resource_version=request.resource_version, allow_bookmarks=request.allow_bookmarks)
        events = await self.service.open_watch(request.resource, request.namespace, options)
        async with contextlib.aclosing(events):
            async for event in events:
                yield event.encoded(api_pb2.WatchEvent, _watch_message)

    def Logs(self, request: api_pb2.LogsRequest) -> AsyncIterator[api_pb2.LogChunk]:
        return self.kubelet_logs.stream(request)

    def Exec(self, requests: AsyncIterator[api_pb2.ExecRequest]) -> AsyncIterator[api_pb2.ExecResponse]:
        return self.kubelet_logs.exec(requests)

    def PortForward(self, requests: AsyncIterator[api_pb2.PortForwardRequest],
                    ) -> AsyncIterator[api_pb2.PortForwardResponse]:
        return self.kubelet_logs.port_forward_call(requests)


# The gRPC writes, by the subresource their managedFields entry names.
WRITE_SUBRESOURCES = {"Create": "", "Update": "", "UpdateStatus": "status", "Bind": "binding"}


def grpc_manager(method: str, metadata: Any) -> WriteManager | None:
    """The field manager of a gRPC write: the User-Agent's product like over HTTP, else -- for
    the default `grpc-python/...` agent of kubelite's own components -- the authenticated user."""
    if method not in WRITE_SUBRESOURCES:
        return None
    agent = next((str(v) for k, v in (metadata or ()) if k == "user-agent"), "")
    name = from_user_agent(agent, "")
    if not name or name.startswith("grpc-"):
        user = current_user.get()
        name = user.name if user is not None and user.name else "kubelite"
    return WriteManager(name[:MAX_MANAGER_LENGTH], subresource=WRITE_SUBRESOURCES[method])


def _internal(method: str, exc: BaseException) -> ApiError:
    return ApiError.from_status({"reason": "InternalError", "code": 500, "message": f"{method}: internal error: {exc}"})


def _resource(request: Message) -> str:
    pod_scoped = api_pb2.BindRequest | api_pb2.LogsRequest | api_pb2.ExecRequest | api_pb2.PortForwardRequest
    return str(getattr(request, "resource", "") or ("pods" if isinstance(request, pod_scoped) else ""))


class ResourcesServicer:
    """Adapts a ResourceHandler to grpc.aio, counting requests by verb, resource and code."""

    def __init__(self, handler: ResourceHandler, metrics: Metrics | None = None,
                 access: GrpcAccess | None = None) -> None:
        self._handler = handler
        self._metrics = metrics or Metrics()
        self._access = access  # authentication + authorization of every call, before the handler

    def _count(self, verb: str, resource: str, code: str) -> None:
        self._metrics.inc("apiserver_requests_total", help_text="API requests by verb, resource and result code",
                          verb=verb, resource=resource, code=code)

    def _unary(self, method: str) -> Callable[[Message, grpc.aio.ServicerContext[Any, Any]], Awaitable[Message]]:
        fn: Callable[[Message], Awaitable[Message]] = getattr(self._handler, method)

        async def handle(request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> Message:
            start = time.perf_counter()
            code = "OK"
            enter_call(context)
            try:
                if self._access is not None:
                    await self._access.admit(method, request, context)
                with writing_as(grpc_manager(method, context.invocation_metadata())):
                    return await fn(request)
            except ApiError as raised:
                code = raised.reason
                err = fit_for_metadata(raised)
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

        async def open_source(request: Message, context: grpc.aio.ServicerContext[Any, Any]
                              ) -> AsyncIterator[Message]:
            if self._access is not None:
                await self._access.admit(method, request, context)
            return fn(request)

        return self._relaying(method, _resource, open_source)

    def _bidi(
        self, method: str
    ) -> Callable[[AsyncIterator[Message], grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Message]]:
        fn: Callable[[AsyncIterator[Message]], AsyncIterator[Message]] = getattr(self._handler, method)

        async def open_source(requests: AsyncIterator[Message], context: grpc.aio.ServicerContext[Any, Any]
                              ) -> AsyncIterator[Message]:
            if self._access is not None:
                requests = self._access.admitted_requests(method, requests, context)
            return fn(requests)

        return self._relaying(method, lambda _: "pods", open_source)

    def _relaying(self, method: str, resource_of: Callable[[Any], str],
                  open_source: Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[AsyncIterator[Message]]],
                  ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Message]]:
        """A streaming handler: admit and open the source, stream it out; ApiErrors (admission's too)
        become gRPC status + Status metadata, anything else Internal.

        Why one generator holding it all: every message of a watch passes through each generator
        between the source and grpc once per watcher, so admission, relay and counting live in
        this one frame rather than in generators wrapping each other."""

        async def handle(arg: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Message]:
            enter_call(context)
            resource = resource_of(arg)
            code = "OK"
            try:
                source = await open_source(arg, context)
                async with contextlib.aclosing(source) as messages:  # type: ignore[type-var]
                    async for message in messages:
                        yield message
            except ApiError as raised:
                code = raised.reason
                err = fit_for_metadata(raised)
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

        return handle

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

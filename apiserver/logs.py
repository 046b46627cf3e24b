"""Pod logs and exec, proxied to the kubelet of the pod's node.

Why proxied and not read by the client from the node: clients only know the
apiserver. The apiserver resolves pod -> node -> the node's InternalIP and
kubelet port (from the Node's status), fills in the pod's uid so the kubelet
needs no lookup, and relays the kubelet's `kubelite.v1.Kubelet/Logs` stream
(and, both ways, its `Exec` stream).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from google.protobuf.message import Message

from kubelite.api import registry
from kubelite.api.core import Node
from kubelite.api.errors import ApiError, BadRequest, InternalError, NotFound, ServiceUnavailable
from kubelite.api.pods import Pod
from kubelite.pb.kubelite import api_pb2
from kubelite.wire import LOG_ACCEPTED_KEY, STATUS_METADATA_KEY

if TYPE_CHECKING:
    from apiserver.service import ResourceService

log = logging.getLogger(__name__)


class KubeletLogs:
    """Relays Logs/Exec to kubelets; with `credentials`, over TLS as `apiserver-kubelet-client`
    (the kubelet verifies that identity, the apiserver verifies the kubelet's serving certificate)."""

    def __init__(self, service: ResourceService, credentials: grpc.ChannelCredentials | None = None) -> None:
        self._service = service
        self._credentials = credentials
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = self._channels.get(target)
        if channel is None:
            options = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 1_000)]
            if self._credentials is not None:
                channel = grpc.aio.secure_channel(target, self._credentials, options=options)
            else:
                channel = grpc.aio.insecure_channel(target, options=options)
            self._channels[target] = channel
        return channel

    def _method(self, target: str) -> Any:
        return self._channel(target).unary_stream(
            "/kubelite.v1.Kubelet/Logs",
            request_serializer=api_pb2.LogsRequest.SerializeToString,
            response_deserializer=api_pb2.LogChunk.FromString,
        )

    async def _resolve(self, request: api_pb2.LogsRequest) -> tuple[str, api_pb2.LogsRequest]:
        """(kubelet target, request to send) for a pod's logs, or a clear error."""
        pod, container, target = await self._locate(request.namespace, request.name, request.container, "logs")
        forward = api_pb2.LogsRequest()
        forward.CopyFrom(request)
        forward.namespace = pod.metadata.namespace or "default"
        forward.container = container
        forward.pod_uid = pod.metadata.uid or ""
        return target, forward

    async def _locate(self, namespace: str, name: str, container: str, what: str) -> tuple[Pod, str, str]:
        """(pod, container name, kubelet target) for a request about one container."""
        pod = await self._pod(namespace, name)
        names = [c.name for c in pod.spec.containers]
        if not container:
            if len(names) != 1:
                raise BadRequest(
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
                )
            container = names[0]
        elif container not in names and container not in [c.name for c in pod.spec.init_containers]:
            raise BadRequest(f'container {container} is not valid for pod {name}')
        return pod, container, await self._kubelet_of(pod, what)

    async def _pod(self, namespace: str, name: str) -> Pod:
        ns = namespace or "default"
        if not name:
            raise BadRequest("pod name may not be empty")
        current = await self._service.read(registry.lookup("pods"), ns, name)
        if current is None:
            raise NotFound.for_object("pods", name)
        pod = Pod.from_dict(current.obj)
        pod.metadata.namespace = ns
        return pod

    async def _kubelet_of(self, pod: Pod, what: str) -> str:
        """The kubelet target ("IP:PORT") of the node `pod` is bound to."""
        name, node_name = pod.metadata.name, pod.spec.node_name
        if not node_name:
            raise BadRequest(f'pod "{name}" is not scheduled to a node yet: no {what} to show')
        node_obj = await self._service.read(registry.lookup("nodes"), "", node_name)
        if node_obj is None:
            raise ServiceUnavailable(f'node "{node_name}" of pod "{name}" is not registered')
        node = Node.from_dict(node_obj.obj)
        ip, port = node.internal_ip(), node.kubelet_port()
        if not ip or not port:
            raise ServiceUnavailable(
                f'node "{node_name}" has no kubelet address (needs status.addresses[type=InternalIP] and '
                "status.daemonEndpoints.kubeletEndpoint.Port)"
            )
        return f"{ip}:{port}"

    async def prepare_port_forward(self, namespace: str, name: str) -> tuple[str, api_pb2.PortForwardStart]:
        """(kubelet target, start message without a port) for forwarding ports of a running pod."""
        pod = await self._pod(namespace, name)
        if pod.status.phase in ("Succeeded", "Failed"):
            raise BadRequest(f"cannot forward ports of pod {name}: it is {pod.status.phase}, not running")
        target = await self._kubelet_of(pod, "ports to forward")
        return target, api_pb2.PortForwardStart(namespace=pod.metadata.namespace or "default", name=name,
                                                pod_uid=pod.metadata.uid or "")

    async def port_forward_call(self, requests: AsyncIterator[api_pb2.PortForwardRequest],
                                ) -> AsyncIterator[api_pb2.PortForwardResponse]:
        """Relay a Resources.PortForward call: the first request names pod and port (the client's
        `pod_uid` is ignored: the apiserver fills in the pod it found); the rest carry bytes."""
        first = await anext(aiter(requests), None)
        if first is None or not first.HasField("start"):
            raise BadRequest("port-forward: the first message must carry `start` (pod and port)")
        if not 0 < first.start.port < 65536:
            raise BadRequest(f"port-forward: port {first.start.port} is not between 1 and 65535")
        target, start = await self.prepare_port_forward(first.start.namespace, first.start.name)
        start.port = first.start.port

        async def rest() -> AsyncIterator[api_pb2.PortForwardRequest]:
            if first.data or first.close_write:
                yield api_pb2.PortForwardRequest(data=first.data, close_write=first.close_write)
            async for request in requests:
                yield request

        async with contextlib.aclosing(self.port_forward(target, start, rest())) as responses:
            async for response in responses:
                yield response

    def port_forward(self, target: str, start: api_pb2.PortForwardStart,
                     data: AsyncIterator[api_pb2.PortForwardRequest]) -> AsyncGenerator[api_pb2.PortForwardResponse, None]:
        """One TCP connection to `start.port` in the pod, through its kubelet."""
        return self._bidi(target, "PortForward", api_pb2.PortForwardRequest(start=start), data,
                          api_pb2.PortForwardResponse)

    async def stream(self, request: api_pb2.LogsRequest) -> AsyncIterator[api_pb2.LogChunk]:
        target, forward = await self._resolve(request)
        async with contextlib.aclosing(_relay(self._method(target)(forward), target)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def open(self, request: api_pb2.LogsRequest) -> AsyncGenerator[api_pb2.LogChunk, None]:
        """Like `stream`, but returns only once the kubelet accepted the request (or raises its
        refusal), so an HTTP answer can still be an error Status before the first byte of output."""
        target, forward = await self._resolve(request)
        call = self._method(target)(forward)
        try:
            metadata = await call.initial_metadata()
        except grpc.aio.AioRpcError as err:
            call.cancel()
            raise _kubelet_error(err, target) from None
        chunks = _relay(call, target)
        if not any(key == LOG_ACCEPTED_KEY for key, _ in metadata or ()):
            # Refused (or ended at once): reading the call raises its error, or finds it empty.
            first = await anext(chunks, None)
            return _prepend(first, chunks)
        return chunks


    async def exec(self, requests: AsyncIterator[api_pb2.ExecRequest]) -> AsyncIterator[api_pb2.ExecResponse]:
        """Relay an Exec call: the first request names pod, container and command; the
        rest (stdin) is forwarded as it arrives, the kubelet's output comes back."""
        first = await anext(aiter(requests), None)
        if first is None or not first.HasField("start"):
            raise BadRequest("exec: the first message must carry `start` (pod, container, command)")
        target, forward = await self.prepare_exec(first.start)
        forward.stdin = first.stdin
        forward.close_stdin = first.close_stdin
        async with contextlib.aclosing(self.exec_at(target, forward, requests)) as responses:
            async for response in responses:
                yield response

    async def prepare_exec(self, start: api_pb2.ExecStart, what: str = "exec") -> tuple[str, api_pb2.ExecRequest]:
        """(kubelet target, first request to send) for an exec (or, `what="attach"`, an attach without
        command), or a clear error about pod or container."""
        if what == "exec" and not list(start.command):
            raise BadRequest("exec: a command is required")
        pod, container, target = await self._locate(start.namespace, start.name, start.container, what)
        forward = api_pb2.ExecRequest()
        forward.start.CopyFrom(start)
        forward.start.namespace = pod.metadata.namespace or "default"
        forward.start.container = container
        forward.start.pod_uid = pod.metadata.uid or ""
        return target, forward

    def exec_at(self, target: str, first: api_pb2.ExecRequest, requests: AsyncIterator[api_pb2.ExecRequest],
                method: str = "Exec") -> AsyncGenerator[api_pb2.ExecResponse, None]:
        """The kubelet's Exec (or Attach) stream for a request made by `prepare_exec`; `requests` carry stdin."""
        return self._bidi(target, method, first, requests, api_pb2.ExecResponse)

    async def _bidi(self, target: str, method: str, first: Message, rest: AsyncIterator[Any],
                    response_type: type[Message]) -> AsyncGenerator[Any, None]:
        """A bidirectional kubelet call: `first`, then `rest` as it comes; its responses until it ends."""

        async def upstream() -> AsyncIterator[Any]:
            yield first
            async for request in rest:
                yield request

        call = self._channel(target).stream_stream(
            f"/kubelite.v1.Kubelet/{method}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_type.FromString,
        )(upstream())
        async with contextlib.aclosing(_relay(call, target)) as responses:
            async for response in responses:
                yield response


    async def stats(self, target: str, timeout: float) -> api_pb2.StatsResponse:
        """One kubelet's resource usage (`kubelite.v1.Kubelet/Stats`)."""
        method = self._channel(target).unary_unary(
            "/kubelite.v1.Kubelet/Stats", request_serializer=api_pb2.StatsRequest.SerializeToString,
            response_deserializer=api_pb2.StatsResponse.FromString)
        try:
            response: api_pb2.StatsResponse = await method(api_pb2.StatsRequest(), timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise _kubelet_error(err, target) from None
        return response


async def _prepend(first: Any, rest: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    async with contextlib.aclosing(rest):
        if first is not None:
            yield first
            async for item in rest:
                yield item


async def _relay(call: Any, target: str) -> AsyncGenerator[Any, None]:
    """Yield a kubelet call's responses; its gRPC errors become API errors; cancel it when done."""
    try:
        async for response in call:
            yield response
    except grpc.aio.AioRpcError as err:
        raise _kubelet_error(err, target) from None
    finally:
        call.cancel()


def _kubelet_error(err: grpc.aio.AioRpcError, target: str) -> ApiError:
    metadata: Any = err.trailing_metadata()
    for key, value in metadata or ():
        if key == STATUS_METADATA_KEY:
            try:
                raw = value if isinstance(value, bytes) else value.encode()
                return ApiError.from_status(json.loads(raw))
            except ValueError:
                break
    code = err.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServiceUnavailable(f"kubelet at {target} is unreachable: {err.details()}")
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(err.details() or "not found")
    return InternalError(f"kubelet at {target} failed: {code.name if code else 'UNKNOWN'}: {err.details()}")

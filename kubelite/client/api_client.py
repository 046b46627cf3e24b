"""`ApiClient`: typed access to the apiserver's resources.

Why typed by model class: controllers and the scheduler work with `Pod`,
`Deployment`, ... models, so decoding, the resource plural and the namespace
rules live here once instead of in every caller. `kctl` handles arbitrary kinds
read from YAML, so every operation also has a `*_raw` twin working on plain
dicts with the resource named by plural, kind or alias (`kubelite.api.registry.lookup`).

Namespace rules (the same for typed and raw calls): a namespaced kind with no
namespace uses "default"; a cluster-scoped kind always sends ""; `list` and
`watch` with `namespace=None` mean all namespaces.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import grpc
from google.protobuf.message import Message

import kubelite.api.registry
from kubelite.api.errors import InternalError
from kubelite.client.lazyitems import LazyItems
from kubelite.client.retry import retry_on_conflict
from kubelite.client.transport import GrpcTransport, Transport, closing_stream
from kubelite.pb.kubelite import api_pb2
from kubelite.wire import jsoncodec
from kubelite.wire.gcpause import gc_paused

if TYPE_CHECKING:  # the models load on first use (`kubelite.api.X`): a `kctl get` builds none
    from kubelite.api import Resource, TokenRequest

log = logging.getLogger("client")

T = TypeVar("T", bound="Resource")
ObjT = TypeVar("ObjT")  # the object of a WatchEvent: a model, or a dict for watch_raw

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class ObjectList(Generic[T]):
    """One List answer: the items and the resourceVersion to watch from."""

    items: Sequence[T]  # a `LazyItems` from `ApiClient.list`: each decoded on first read
    resource_version: str
    continue_: str = ""


@dataclass(frozen=True)
class WatchEvent(Generic[ObjT]):
    """ADDED / MODIFIED / DELETED carry the object; BOOKMARK carries only apiVersion, kind and
    `metadata.resourceVersion` (`bookmark_object`: reading another field raises AttributeError)."""

    type: str
    object: ObjT


def bookmark_object(cls: type[ObjT], api_version: str, kind: str, resource_version: str) -> ObjT:
    """A BOOKMARK's object of kind `cls`, holding only what a bookmark says.

    Why not `cls.model_construct(...)`: it fills every other field with its default, and the
    default factory of a nested model (a StatefulSet's spec, its pod template, ...) validates,
    building that model's validator. A daemon's first bookmark of a kind it holds no object of
    (a controller-manager's CronJobs, StatefulSets, ...) built validators it never used: up to
    30 ms and 0.3-1 MB each, on an idle cluster a minute after start."""
    obj = cls.__new__(cls)
    meta = kubelite.api.ObjectMeta.model_construct(resource_version=resource_version)
    object.__setattr__(obj, "__dict__", {"api_version": api_version, "kind": kind, "metadata": meta})
    object.__setattr__(obj, "__pydantic_fields_set__", {"api_version", "kind", "metadata"})
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def _decode_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = jsoncodec.loads(data)
    except ValueError as exc:
        raise InternalError(f"apiserver sent undecodable JSON for {what}: {exc}") from None
    if not isinstance(value, dict):
        raise InternalError(f"apiserver sent a non-object for {what}")
    return value


def _decode_list_item(data: bytes) -> dict[str, Any]:
    return _decode_json(data, "List")


def _encode(d: dict[str, Any]) -> bytes:
    return jsoncodec.dumps(d)


def _namespace_for(info: kubelite.api.registry.KindInfo, namespace: str | None) -> str:
    """The namespace to send for one named object of this kind."""
    if not info.namespaced:
        return ""
    return namespace or DEFAULT_NAMESPACE


def _scope_for(info: kubelite.api.registry.KindInfo, namespace: str | None) -> str:
    """The namespace to send for a List/Watch: None or "" = all namespaces."""
    if not info.namespaced:
        return ""
    return namespace or ""


class ApiClient:
    """Async client of `kubelite.v1.Resources`; errors are `api.errors` exceptions."""

    def __init__(self, transport: Transport):
        self.transport = transport

    @classmethod
    def connect(cls, target: str, *, timeout: float | None = 30.0, token: str = "",
                impersonate_user: str = "", impersonate_groups: Sequence[str] = (),
                credentials: grpc.ChannelCredentials | None = None,
                connect_timeout: float | None = None) -> ApiClient:
        """A client over gRPC to `target` ("HOST:PORT"); connects lazily; TLS with `credentials`
        (see `kubelite.client.tls`). `token` is sent as `authorization: Bearer <token>`;
        `impersonate_*` act as another user (needs `impersonate`).

        `connect_timeout`: how long one connection attempt (TCP, TLS handshake, HTTP/2 settings) may
        take; None keeps the transport's fast-failing default. gRPC reads it from
        `grpc.min_reconnect_backoff_ms` (its minimum connect timeout). A one-shot client such as kctl
        gives it its request timeout: against a slow server (e.g. an emulated VM) an attempt cut
        after the default 0.1-2 s never completes the handshake, however often it is retried."""
        metadata = [("authorization", f"Bearer {token}")] if token else []
        if impersonate_user:
            metadata.append(("impersonate-user", impersonate_user))
        metadata.extend(("impersonate-group", g) for g in impersonate_groups)
        options = {} if connect_timeout is None else {"grpc.min_reconnect_backoff_ms": int(connect_timeout * 1000)}
        return cls(GrpcTransport(target, timeout=timeout, options=options, metadata=metadata,
                                 credentials=credentials))

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----------------------------------------------------------------- plumbing

    async def _call(self, method: str, request: Message, response_type: type[Any]) -> Any:
        response = await self.transport.unary(method, request)
        if not isinstance(response, response_type):
            raise InternalError(f"{method} answered {type(response).__name__}, expected {response_type.__name__}")
        return response

    async def _object_call(self, method: str, request: Message) -> dict[str, Any] | None:
        response: api_pb2.Object = await self._call(method, request, api_pb2.Object)
        if not response.json:
            return None
        return _decode_json(response.json, method)

    async def _required_object_call(self, method: str, request: Message) -> dict[str, Any]:
        d = await self._object_call(method, request)
        if d is None:
            raise InternalError(f"{method} answered without an object")
        return d

    @staticmethod
    def _model(cls: type[T], d: dict[str, Any]) -> T:
        return cls.from_dict(d)

    # --------------------------------------------------------------- raw (dicts)

    @staticmethod
    def resolve(resource: str) -> kubelite.api.registry.KindInfo:
        """KindInfo for a plural, kind, alias or "deployment.apps"."""
        return kubelite.api.registry.lookup(resource)

    async def create_raw(
        self, resource: str, obj: dict[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        info = self.resolve(resource)
        body = dict(obj)
        meta = dict(body.get("metadata") or {})
        ns = _namespace_for(info, namespace or meta.get("namespace"))
        if info.namespaced:
            meta["namespace"] = ns
        body["metadata"] = meta
        request = api_pb2.CreateRequest(resource=info.resource, namespace=ns, json=_encode(body), dry_run=dry_run)
        return await self._required_object_call("Create", request)

    async def create_review(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create one of the unstored review kinds (`selfsubjectaccessreviews`, `selfsubjectreviews`):
        the server answers it about the caller and keeps nothing."""
        request = api_pb2.CreateRequest(resource=resource, json=_encode(obj))
        return await self._required_object_call("Create", request)

    async def read_unstored(self, resource: str, namespace: str, name: str = "",
                            label_selector: str = "") -> list[dict[str, Any]]:
        """Get (`name`) or list a resource the server computes rather than stores, such as
        `pods.metrics.k8s.io` (no kind in the registry; `namespace` "" = all or cluster-scoped)."""
        if name:
            return [await self._required_object_call(
                "Get", api_pb2.GetRequest(resource=resource, namespace=namespace, name=name))]
        request = api_pb2.ListRequest(resource=resource, namespace=namespace, label_selector=label_selector)
        response: api_pb2.ListResponse = await self._call("List", request, api_pb2.ListResponse)
        return [_decode_json(item, "List") for item in response.items]

    async def get_raw(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        info = self.resolve(resource)
        request = api_pb2.GetRequest(resource=info.resource, namespace=_namespace_for(info, namespace), name=name)
        return await self._required_object_call("Get", request)

    async def list_raw(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
    ) -> dict[str, Any]:
        """A Kubernetes-shaped list: {"kind": "PodList", "metadata": {...}, "items": [...]}."""
        info = self.resolve(resource)
        response = await self._list(info, namespace, label_selector, field_selector, limit, continue_)
        meta: dict[str, Any] = {"resourceVersion": response.resource_version}
        if getattr(response, "continue"):
            meta["continue"] = getattr(response, "continue")
        with gc_paused():
            items = [_decode_list_item(item) for item in response.items]
        return {"apiVersion": info.api_version, "kind": f"{info.kind}List", "metadata": meta, "items": items}

    async def _list(
        self,
        info: kubelite.api.registry.KindInfo,
        namespace: str | None,
        label_selector: str,
        field_selector: str,
        limit: int,
        continue_: str,
    ) -> api_pb2.ListResponse:
        request = api_pb2.ListRequest(
            resource=info.resource,
            namespace=_scope_for(info, namespace),
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
        )
        setattr(request, "continue", continue_)  # `continue` is a Python keyword
        response: api_pb2.ListResponse = await self._call("List", request, api_pb2.ListResponse)
        return response

    async def update_raw(
        self, resource: str, obj: dict[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        return await self._update_raw("Update", resource, obj, namespace, dry_run)

    async def update_status_raw(self, resource: str, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        return await self._update_raw("UpdateStatus", resource, obj, namespace, False)

    async def update_subresource_raw(self, resource: str, subresource: str, obj: dict[str, Any],
                                     namespace: str | None = None) -> dict[str, Any]:
        """PUT to an update subresource other than status (`certificatesigningrequests/approval`)."""
        return await self._update_raw("Update", resource, obj, namespace, False, subresource)

    async def _update_raw(
        self, method: str, resource: str, obj: dict[str, Any], namespace: str | None, dry_run: bool,
        subresource: str = "",
    ) -> dict[str, Any]:
        info = self.resolve(resource)
        meta = dict(obj.get("metadata") or {})
        name = meta.get("name") or ""
        if not name:
            raise ValueError(f"{method} of a {info.kind} needs metadata.name")
        ns = _namespace_for(info, namespace or meta.get("namespace"))
        if info.namespaced:
            meta["namespace"] = ns
        body = {**obj, "metadata": meta}
        target = f"{info.resource}/{subresource}" if subresource else info.resource
        request = api_pb2.UpdateRequest(resource=target, namespace=ns, name=name, json=_encode(body), dry_run=dry_run)
        return await self._required_object_call(method, request)

    async def delete_raw(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        precondition_uid: str | None = None,
        precondition_resource_version: str | None = None,
    ) -> dict[str, Any] | None:
        """The object as removed, or as it now is when deletion is graceful."""
        info = self.resolve(resource)
        request = api_pb2.DeleteRequest(
            resource=info.resource,
            namespace=_namespace_for(info, namespace),
            name=name,
            propagation_policy=propagation_policy or "",
            precondition_uid=precondition_uid or "",
            precondition_resource_version=precondition_resource_version or "",
        )
        if grace_period_seconds is not None:
            request.grace_period_seconds = grace_period_seconds
        return await self._object_call("Delete", request)

    async def watch_raw(
        self,
        resource: str,
        namespace: str | None = None,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        *,
        allow_bookmarks: bool = False,
    ) -> AsyncGenerator[WatchEvent[dict[str, Any]], None]:
        """Events as dicts; raises `api.errors.Expired` when resource_version is too old."""
        info = self.resolve(resource)
        request = api_pb2.WatchRequest(
            resource=info.resource,
            namespace=_scope_for(info, namespace),
            resource_version=resource_version,
            label_selector=label_selector,
            field_selector=field_selector,
            allow_bookmarks=allow_bookmarks,
        )
        async with closing_stream(self.transport.stream("Watch", request)) as stream:
            async for message in stream:
                if not isinstance(message, api_pb2.WatchEvent):
                    raise InternalError(f"Watch sent {type(message).__name__}")
                yield WatchEvent(message.type, _decode_json(message.object, "Watch") if message.object else {})

    # ------------------------------------------------------------------- typed

    async def create(self, obj: T, *, dry_run: bool = False) -> T:
        """Create `obj`; namespace from obj.metadata.namespace (default "default")."""
        info = kubelite.api.registry.for_model(type(obj))
        d = await self.create_raw(info.resource, obj.to_dict(), obj.metadata.namespace, dry_run=dry_run)
        return self._model(type(obj), d)

    async def get(self, cls: type[T], name: str, namespace: str = DEFAULT_NAMESPACE) -> T:
        info = kubelite.api.registry.for_model(cls)
        return self._model(cls, await self.get_raw(info.resource, name, namespace))

    async def list(
        self,
        cls: type[T],
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
    ) -> ObjectList[T]:
        """One page of objects; each item's model is built when it is first read (`LazyItems`),
        so a caller reading part of a large List pays for that part only."""
        info = kubelite.api.registry.for_model(cls)
        response = await self._list(info, namespace, label_selector, field_selector, limit, continue_)
        items = LazyItems(response.items, _decode_list_item, cls.from_dict)
        return ObjectList(items, response.resource_version, getattr(response, "continue"))

    async def update(self, obj: T, *, dry_run: bool = False) -> T:
        """Replace spec+metadata; Conflict if metadata.resource_version is stale."""
        info = kubelite.api.registry.for_model(type(obj))
        d = await self.update_raw(info.resource, obj.to_dict(), obj.metadata.namespace, dry_run=dry_run)
        return self._model(type(obj), d)

    async def update_status(self, obj: T) -> T:
        """Replace status only; same compare-and-swap rule as update()."""
        info = kubelite.api.registry.for_model(type(obj))
        d = await self.update_status_raw(info.resource, obj.to_dict(), obj.metadata.namespace)
        return self._model(type(obj), d)

    async def update_approval(self, obj: T) -> T:
        """Replace the Approved/Denied conditions of a CertificateSigningRequest (its `approval` subresource)."""
        info = kubelite.api.registry.for_model(type(obj))
        d = await self.update_subresource_raw(info.resource, "approval", obj.to_dict(), obj.metadata.namespace)
        return self._model(type(obj), d)

    async def delete(
        self,
        cls: type[T],
        name: str,
        namespace: str = DEFAULT_NAMESPACE,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        precondition_uid: str | None = None,
    ) -> T | None:
        info = kubelite.api.registry.for_model(cls)
        d = await self.delete_raw(
            info.resource, name, namespace, grace_period_seconds, propagation_policy, precondition_uid
        )
        return None if d is None else self._model(cls, d)

    async def watch(
        self,
        cls: type[T],
        namespace: str | None = None,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        *,
        allow_bookmarks: bool = False,
    ) -> AsyncGenerator[WatchEvent[T], None]:
        """Typed events; raises `api.errors.Expired` when resource_version is too old.

        Close the iterator (`contextlib.aclosing`) or cancel its reader to end
        the underlying stream promptly.
        """
        info = kubelite.api.registry.for_model(cls)
        events = self.watch_raw(
            info.resource, namespace, resource_version, label_selector, field_selector, allow_bookmarks=allow_bookmarks
        )
        async with aclosing(events) as stream:
            async for ev in stream:
                if ev.type == "BOOKMARK":
                    rv = str((ev.object.get("metadata") or {}).get("resourceVersion") or "")
                    yield WatchEvent(ev.type, bookmark_object(cls, info.api_version, info.kind, rv))
                else:
                    yield WatchEvent(ev.type, self._model(cls, ev.object))

    async def bind(self, namespace: str, name: str, node_name: str, pod_uid: str = "") -> None:
        """Set spec.nodeName of an unbound pod (Conflict if bound elsewhere; `pod_uid` set: Conflict if the
        pod of that name is another one). Like Kubernetes' binding the answer is a success Status, nothing
        to read: get the pod for its new state."""
        request = api_pb2.BindRequest(namespace=namespace, name=name, node_name=node_name, pod_uid=pod_uid)
        await self._call("Bind", request, api_pb2.Object)

    async def create_token(
        self, name: str, namespace: str = DEFAULT_NAMESPACE, *, audiences: Sequence[str] = (),
        expiration_seconds: int | None = None, bound_pod: tuple[str, str] | None = None,
    ) -> TokenRequest:
        """TokenRequest for ServiceAccount `namespace/name` (`create serviceaccounts/token`); the token is in
        `.status.token`. `bound_pod` = (name, uid): the token dies with that pod."""
        api = kubelite.api
        ref = None
        if bound_pod is not None:
            ref = api.BoundObjectReference(kind="Pod", api_version="v1", name=bound_pod[0], uid=bound_pod[1] or None)
        body = api.TokenRequest(metadata=api.ObjectMeta(name=name, namespace=namespace), spec=api.TokenRequestSpec(
            audiences=list(audiences), expiration_seconds=expiration_seconds, bound_object_ref=ref))
        request = api_pb2.CreateRequest(resource="serviceaccounts/token", namespace=namespace,
                                        json=_encode(body.to_dict()))
        return api.TokenRequest.from_dict(await self._required_object_call("Create", request))

    async def evict(self, name: str, namespace: str = DEFAULT_NAMESPACE, *,
                    grace_period_seconds: int | None = None) -> None:
        """Evict pod `namespace/name` (`create pods/eviction`): a delete its PodDisruptionBudget may refuse
        with TooManyRequests (retry later)."""
        body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
                                "metadata": {"name": name, "namespace": namespace}}
        if grace_period_seconds is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_period_seconds}
        request = api_pb2.CreateRequest(resource="pods/eviction", namespace=namespace, json=_encode(body))
        await self._required_object_call("Create", request)

    async def logs(
        self,
        namespace: str,
        name: str,
        container: str = "",
        follow: bool = False,
        tail_lines: int | None = None,
        previous: bool = False,
        timestamps: bool = False,
    ) -> AsyncGenerator[bytes, None]:
        """Raw log bytes of a pod's container, proxied by the apiserver to the kubelet."""
        request = api_pb2.LogsRequest(
            namespace=namespace or DEFAULT_NAMESPACE,
            name=name,
            container=container,
            follow=follow,
            previous=previous,
            timestamps=timestamps,
        )
        if tail_lines is not None:
            request.tail_lines = tail_lines
        async with closing_stream(self.transport.stream("Logs", request)) as stream:
            async for chunk in stream:
                if not isinstance(chunk, api_pb2.LogChunk):
                    raise InternalError(f"Logs sent {type(chunk).__name__}")
                yield chunk.data

    async def exec(
        self,
        namespace: str,
        name: str,
        command: Sequence[str],
        *,
        on_output: Callable[[int, bytes], None],
        container: str = "",
        tty: bool = False,
        stdin: AsyncIterable[bytes] | None = None,
    ) -> int:
        """Run `command` in a pod's container (proxied by the apiserver to the kubelet).

        Output chunks go to `on_output(fd, data)` (1 = stdout, 2 = stderr) as they come;
        `stdin` (if given) is sent as it is produced and closed when it ends. Returns
        the command's exit code.
        """
        start = api_pb2.ExecStart(namespace=namespace or DEFAULT_NAMESPACE, name=name, container=container,
                                  command=command, tty=tty, stdin=stdin is not None)

        async def requests() -> AsyncIterator[Message]:
            yield api_pb2.ExecRequest(start=start)
            if stdin is not None:
                async for chunk in stdin:
                    if chunk:
                        yield api_pb2.ExecRequest(stdin=chunk)
                yield api_pb2.ExecRequest(close_stdin=True)

        code: int | None = None
        async with closing_stream(self.transport.bidi("Exec", requests())) as stream:
            async for response in stream:
                if not isinstance(response, api_pb2.ExecResponse):
                    raise InternalError(f"Exec sent {type(response).__name__}")
                if response.stdout:
                    on_output(1, response.stdout)
                if response.stderr:
                    on_output(2, response.stderr)
                if response.exited:
                    code = response.exit_code
        if code is None:
            raise InternalError(f"exec in pod {name!r}: the stream ended without an exit code")
        return code

    async def port_forward(self, namespace: str, name: str, port: int,
                           data: AsyncIterable[bytes]) -> AsyncGenerator[bytes, None]:
        """One TCP connection to `port` inside a pod (the apiserver relays to the pod's kubelet):
        `data` is sent as it is produced (its end half-closes the connection); the pod's bytes
        come back until it closes. A refused connection raises the ApiError naming pod and port."""
        start = api_pb2.PortForwardStart(namespace=namespace or DEFAULT_NAMESPACE, name=name, port=port)

        async def requests() -> AsyncIterator[Message]:
            yield api_pb2.PortForwardRequest(start=start)
            async for chunk in data:
                if chunk:
                    yield api_pb2.PortForwardRequest(data=chunk)
            yield api_pb2.PortForwardRequest(close_write=True)

        async with closing_stream(self.transport.bidi("PortForward", requests())) as stream:
            async for response in stream:
                if not isinstance(response, api_pb2.PortForwardResponse):
                    raise InternalError(f"PortForward sent {type(response).__name__}")
                if response.data:
                    yield response.data

    # ------------------------------------------------------------- conveniences

    async def update_with_retry(
        self,
        cls: type[T],
        name: str,
        namespace: str,
        mutate: Callable[[T], bool | None],
        *,
        status: bool = False,
        attempts: int = 10,
    ) -> T:
        """Read-modify-write that survives concurrent writers.

        GETs the object, calls `mutate(obj)` (edit in place; return False to
        skip the write when nothing changed), then Update (or UpdateStatus with
        status=True). On Conflict the object is fetched again and `mutate`
        reapplied, up to `attempts` times; other errors propagate.
        """
        async def attempt() -> T:
            obj = await self.get(cls, name, namespace)
            if mutate(obj) is False:
                return obj
            return await (self.update_status(obj) if status else self.update(obj))

        return await retry_on_conflict(attempt, attempts)

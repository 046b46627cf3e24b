"""ResourceService: the apiserver's implementation of every `kubelite.v1.Resources` RPC.

It implements `client.transport.ResourceHandler`, so the gRPC servicer is a
thin adapter and tests can drive it in-process through `LocalTransport`.

Reads: Get goes to the store (one key, always current); List and Watch are
served by the per-resource watch caches. Writes are etcd Txns guarded by
revision compares: create-if-absent, and compare-and-swap on the
resourceVersion read (retried internally only when the client did not ask for
a specific version). Per-kind rules live in `objects`, namespace admission in
`admission`, the kubelet log proxy in `logs`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from apiserver import errors, objects, storage
from apiserver.admission import NamespaceAdmission
from apiserver.etcd import EtcdClient, prefix_end
from apiserver.logs import KubeletLogs
from apiserver.selection import Selection
from apiserver.servicewrites import ServiceWriter
from apiserver.storage import ContinueToken, StoredObject
from apiserver.watchcache import WatchCache
from kubelite.api import Service, registry
from kubelite.api.errors import ApiError, Expired, StatusCause
from kubelite.api.meta import Resource
from kubelite.api.registry import KindInfo
from kubelite.pb.kubelite import api_pb2

log = logging.getLogger(__name__)

MAX_UPDATE_ATTEMPTS = 16
GENERATE_NAME_ATTEMPTS = 8
LIST_CHUNK = 500


class ResourceService:
    """Handles Create/Get/List/Update/UpdateStatus/Delete/Watch/Bind/Logs for every kind."""

    def __init__(
        self,
        etcd: EtcdClient,
        *,
        consistency_timeout: float = 3.0,
        history: int = 10_000,
        watcher_buffer: int = 10_000,
        bookmark_interval: float = 5.0,
        default_not_ready_toleration_seconds: int = 30,
        default_unreachable_toleration_seconds: int = 30,
    ) -> None:
        self.etcd = etcd
        self.default_toleration_seconds = (default_not_ready_toleration_seconds,
                                           default_unreachable_toleration_seconds)
        self.consistency_timeout = consistency_timeout
        self.caches: dict[str, WatchCache] = {
            info.resource: WatchCache(
                etcd, info.resource, api_version=info.api_version, kind=info.kind, history=history,
                watcher_buffer=watcher_buffer, bookmark_interval=bookmark_interval,
            )
            for info in registry.all_kinds()
        }
        self.admission = NamespaceAdmission(self)
        self.kubelet_logs = KubeletLogs(self)
        self.services = ServiceWriter(etcd)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        for cache in self.caches.values():
            cache.start()

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.caches.values()))
        await self.kubelet_logs.close()

    def synced(self) -> bool:
        return all(c.ready.is_set() for c in self.caches.values())

    async def wait_synced(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in self.caches.values())), timeout)
        except TimeoutError:
            return False
        return True

    def watcher_count(self) -> int:
        return sum(c.watcher_count() for c in self.caches.values())

    # ---- helpers ---------------------------------------------------------------------------

    @staticmethod
    def kind_for(resource: str) -> KindInfo:
        info = registry.find(resource) if resource else None
        if info is None:
            raise errors.unknown_resource(resource)
        return info

    @staticmethod
    def _namespace(info: KindInfo, namespace: str, *, default: str = "default") -> str:
        return (namespace or default) if info.namespaced else ""

    @staticmethod
    def _name(name: str) -> str:
        if not name:
            raise errors.bad_request("resource name may not be empty")
        if "/" in name or name in (".", ".."):
            raise errors.bad_request(f'invalid resource name "{name}": may not contain "/"')
        return name

    async def read(self, info: KindInfo, namespace: str, name: str) -> StoredObject | None:
        """The current stored object, straight from the store (read-your-writes)."""
        key = storage.object_key(info.resource, namespace, name)
        kv, _ = await self.etcd.get(key)
        if kv is None:
            return None
        try:
            return storage.from_kv(info.resource, kv)
        except ValueError as exc:
            raise errors.internal(f"stored object {key} is not decodable: {exc}") from None

    @staticmethod
    def _model(info: KindInfo, current: StoredObject) -> Resource:
        return info.model.from_dict(current.obj)

    @staticmethod
    def _respond(obj: dict[str, Any], rv: int | None = None) -> api_pb2.Object:
        if rv is not None:
            obj = storage.with_rv(obj, rv)
        return api_pb2.Object(json=storage.dump(obj))

    # ---- Create ----------------------------------------------------------------------------

    async def Create(self, request: api_pb2.CreateRequest) -> api_pb2.Object:
        info = self.kind_for(request.resource)
        obj = objects.decode_for(info, objects.parse_body(request.json))
        ns = objects.check_namespace(info, obj, request.namespace)
        meta = obj.metadata
        generated = not meta.name and bool(meta.generate_name)
        if generated:
            meta.name = objects.generate_name(meta.generate_name or "")
        objects.prepare_create(info, obj)
        if info.kind == "Pod":
            objects.add_default_tolerations(obj, *self.default_toleration_seconds)
        objects.check_valid(info, obj)
        if not meta.name:
            raise errors.invalid(info.kind, None, [StatusCause.required("metadata.name", "name or generateName is required")])
        self._name(meta.name)
        if info.namespaced:
            await self.admission.check_create(ns)
        plan = self.services.plan(obj, None) if isinstance(obj, Service) else None
        for _ in range(GENERATE_NAME_ATTEMPTS):
            name = meta.name or ""
            data = obj.to_dict()
            if request.dry_run:
                return self._respond(data)
            key = storage.object_key(info.resource, ns, name)
            if isinstance(obj, Service) and plan is not None:
                revision = await self.services.create(key, obj, plan)
                if revision is not None:
                    return self._respond(obj.to_dict(), revision)
            else:
                result = await self.etcd.create(key, storage.encode_value(data))
                if result.succeeded:
                    return self._respond(data, result.revision)
            if not generated:
                break
            meta.name = objects.generate_name(meta.generate_name or "")
        raise errors.already_exists(info.resource, meta.name or "")

    # ---- Get / List ------------------------------------------------------------------------

    async def Get(self, request: api_pb2.GetRequest) -> api_pb2.Object:
        info = self.kind_for(request.resource)
        ns, name = self._namespace(info, request.namespace), self._name(request.name)
        current = await self.read(info, ns, name)
        if current is None:
            raise errors.not_found(info.resource, name)
        return api_pb2.Object(json=current.raw)

    async def List(self, request: api_pb2.ListRequest) -> api_pb2.ListResponse:
        info = self.kind_for(request.resource)
        ns = self._namespace(info, request.namespace, default="")
        selection = Selection.parse(ns, request.label_selector, request.field_selector)
        if request.limit < 0:
            raise errors.bad_request("limit must not be negative")
        limit = int(request.limit)
        prefix = storage.list_prefix(info.resource, ns)
        if getattr(request, "continue"):
            token = ContinueToken.decode(getattr(request, "continue"))
            start = storage.resource_prefix(info.resource) + token.start
            if not start.startswith(prefix):
                raise errors.bad_request("continue key is not valid: it does not belong to this list")
            items, rv, next_key = await self._list_from_store(info, selection, prefix, start, token.revision, limit)
        else:
            cache = self.caches[info.resource]
            fresh_rv = await cache.wait_fresh(self.consistency_timeout)
            if fresh_rv is not None:
                rv = fresh_rv
                items, next_key = cache.list_objects(selection, limit)
            else:
                log.info("watch cache not fresh; listing from storage", extra={"resource": info.resource})
                items, rv, next_key = await self._list_from_store(info, selection, prefix, prefix, 0, limit)
        response = api_pb2.ListResponse(resource_version=str(rv))
        response.items.extend(c.raw for c in items)
        if next_key is not None:
            rel = next_key[len(storage.resource_prefix(info.resource)):]
            setattr(response, "continue", ContinueToken(rv, rel).encode())
        return response

    async def _list_from_store(
        self, info: KindInfo, selection: Selection, prefix: str, start: str, revision: int, limit: int
    ) -> tuple[list[StoredObject], int, str | None]:
        """A (page of a) List read from the store at one revision (0 = now), filtered by `selection`."""
        end = prefix_end(prefix.encode())
        items: list[StoredObject] = []
        key = start
        rev = revision
        while True:
            try:
                chunk = await self.etcd.range(key, end, revision=rev, limit=max(LIST_CHUNK, limit + 1))
            except Expired:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                ) from None
            if rev == 0:
                rev = chunk.revision
            for kv in chunk.kvs:
                try:
                    c = storage.from_kv(info.resource, kv)
                except ValueError:
                    log.error("skipping undecodable stored object", extra={"key": kv.key})
                    continue
                if not selection.matches(c):
                    continue
                if limit and len(items) == limit:
                    return items, rev, c.key
                items.append(c)
            if not chunk.more or not chunk.kvs:
                return items, rev, None
            key = storage.next_key(chunk.kvs[-1].key)

    # ---- Update / UpdateStatus / Bind ----------------------------------------------------------

    async def guaranteed_update(
        self,
        info: KindInfo,
        namespace: str,
        name: str,
        precondition_rv: int | None,
        mutate: Callable[[Resource], Resource | None],
        *,
        dry_run: bool = False,
    ) -> api_pb2.Object:
        """Read, apply `mutate`, compare-and-swap; retry on races only if no rv was requested.

        `mutate` gets a fresh copy of the stored object and returns the object to
        store (or None to leave it as it is). An object that ends up deleting
        with no finalizers and no grace left is removed instead of written.
        """
        key = storage.object_key(info.resource, namespace, name)
        # Start from the watch cache, like Kubernetes' cachedExistingObject: the write's
        # compare-and-swap on its revision catches a stale copy, and a verdict drawn from a
        # copy that may be stale (an error, "nothing to change") is re-checked on a fresh read.
        # That saves a storage read on every bind and status update.
        current = self.caches[info.resource].get(key)
        if current is not None and precondition_rv is not None and current.rv != precondition_rv:
            current = None
        fresh = False
        for _ in range(MAX_UPDATE_ATTEMPTS):
            if current is None:
                current, fresh = await self.read(info, namespace, name), True
            if current is None:
                raise errors.not_found(info.resource, name)
            if precondition_rv is not None and current.rv != precondition_rv:
                raise errors.conflict(info.resource, name)
            try:
                new = mutate(self._model(info, current))
            except ApiError:
                if fresh:
                    raise
                current = None
                continue
            if new is not None:
                new.metadata.resource_version = None
                data = new.to_dict()
            if new is None or objects.same_content(data, current.obj):
                if fresh:
                    return api_pb2.Object(json=current.raw)
                current = None
                continue
            if dry_run:
                return self._respond(data, current.rv)
            if isinstance(new, Service):  # its IP and port claims change in the same Txn
                old_obj = self._model(info, current)
                assert isinstance(old_obj, Service)
                if objects.ready_to_remove(new):
                    done, revision = await self.services.delete(key, old_obj, current.rv), current.rv
                else:
                    done, revision = await self.services.update(key, new, old_obj, current.rv)
                    data = new.to_dict()
                if done:
                    return self._respond(data, revision)
                current = None
                continue
            if info.kind != "Namespace" and objects.ready_to_remove(new):  # namespaces go via admission cleanup
                result = await self.etcd.delete(key, current.rv)
            else:
                result = await self.etcd.update(key, storage.encode_value(data), current.rv)
            if result.succeeded:
                return self._respond(data, result.revision)
            if result.kv is None:
                raise errors.not_found(info.resource, name)
            if precondition_rv is not None:
                raise errors.conflict(info.resource, name)
            current, fresh = storage.from_kv(info.resource, result.kv), True
        raise errors.conflict(info.resource, name, "too many concurrent updates; try again")

    def _update_target(self, request: api_pb2.UpdateRequest) -> tuple[KindInfo, str, str, Resource, int | None]:
        info = self.kind_for(request.resource)
        new = objects.decode_for(info, objects.parse_body(request.json))
        ns = objects.check_namespace(info, new, self._namespace(info, request.namespace))
        name = request.name or new.metadata.name or ""
        self._name(name)
        if new.metadata.name and new.metadata.name != name:
            raise errors.bad_request(
                f'the name of the object ("{new.metadata.name}") does not match the name on the request ("{name}")'
            )
        new.metadata.name = name
        rv_text = new.metadata.resource_version or ""
        rv = storage.parse_resource_version(rv_text) if rv_text else None
        return info, ns, name, new, rv

    async def Update(self, request: api_pb2.UpdateRequest) -> api_pb2.Object:
        info, ns, name, new, rv = self._update_target(request)

        def mutate(old: Resource) -> Resource:
            candidate = new.model_copy(deep=True)
            objects.prepare_update(info, old, candidate)
            return candidate

        return await self.guaranteed_update(info, ns, name, rv, mutate, dry_run=request.dry_run)

    async def UpdateStatus(self, request: api_pb2.UpdateRequest) -> api_pb2.Object:
        info, ns, name, new, rv = self._update_target(request)
        return await self.guaranteed_update(
            info, ns, name, rv, lambda old: objects.prepare_status_update(info, old, new), dry_run=request.dry_run
        )

    async def Bind(self, request: api_pb2.BindRequest) -> api_pb2.Object:
        info = registry.lookup("pods")
        ns, name = self._namespace(info, request.namespace), self._name(request.name)
        if not request.node_name:
            raise errors.bad_request("a binding needs a target node name")

        def mutate(pod: Resource) -> Resource:
            objects.bind(pod, request.node_name, request.pod_uid)
            return pod

        return await self.guaranteed_update(info, ns, name, None, mutate)

    # ---- Delete --------------------------------------------------------------------------------

    async def Delete(self, request: api_pb2.DeleteRequest) -> api_pb2.Object:
        info = self.kind_for(request.resource)
        ns, name = self._namespace(info, request.namespace), self._name(request.name)
        policy = objects.validate_propagation(request.propagation_policy)
        requested = request.grace_period_seconds if request.HasField("grace_period_seconds") else None
        key = storage.object_key(info.resource, ns, name)
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current = await self.read(info, ns, name)
            if current is None:
                raise errors.not_found(info.resource, name)
            obj = self._model(info, current)
            objects.check_preconditions(info, obj, request.precondition_uid, request.precondition_resource_version)
            if info.kind == "Namespace":
                remove = not obj.metadata.finalizers and await self.admission.namespace_empty(name)
                if not remove:
                    if obj.metadata.deletion_timestamp:
                        return api_pb2.Object(json=current.raw)
                    objects.mark_deleting(obj, 0, "")
                    obj.status.phase = "Terminating"  # type: ignore[attr-defined]
            else:
                grace = objects.deletion_grace(info, obj, requested)
                remove = grace == 0 and not obj.metadata.finalizers and policy not in objects.PROPAGATION_FINALIZERS
                if not remove:
                    if not objects.mark_deleting(obj, grace, policy):
                        return api_pb2.Object(json=current.raw)
                    remove = objects.ready_to_remove(obj)
            if remove and isinstance(obj, Service):
                if await self.services.delete(key, obj, current.rv):
                    return api_pb2.Object(json=current.raw)
                continue
            if remove:
                result = await self.etcd.delete(key, current.rv)
                if result.succeeded:
                    return api_pb2.Object(json=current.raw)
                continue
            obj.metadata.resource_version = None
            data = obj.to_dict()
            result = await self.etcd.update(key, storage.encode_value(data), current.rv)
            if result.succeeded:
                return self._respond(data, result.revision)
        raise errors.conflict(info.resource, name, "too many concurrent updates; try again")

    # ---- Watch / Logs --------------------------------------------------------------------------

    async def Watch(self, request: api_pb2.WatchRequest) -> AsyncIterator[api_pb2.WatchEvent]:
        info = self.kind_for(request.resource)
        ns = self._namespace(info, request.namespace, default="")
        selection = Selection.parse(ns, request.label_selector, request.field_selector)
        rv_text = request.resource_version
        rv = None if rv_text in ("", "0") else storage.parse_resource_version(rv_text)
        cache = self.caches[info.resource]
        if not cache.ready.is_set():
            try:
                await asyncio.wait_for(cache.ready.wait(), self.consistency_timeout)
            except TimeoutError:
                raise errors.unavailable(f"the watch cache of {info.resource} is not ready yet; retry") from None
        if rv_text == "":
            await cache.wait_fresh(self.consistency_timeout)
        watcher = cache.watch(selection, rv, request.allow_bookmarks)
        try:
            async for kind, raw in watcher.events():
                yield api_pb2.WatchEvent(type=kind, object=raw)
        finally:
            cache.stop_watch(watcher)

    def Logs(self, request: api_pb2.LogsRequest) -> AsyncIterator[api_pb2.LogChunk]:
        return self.kubelet_logs.stream(request)

    def Exec(self, requests: AsyncIterator[api_pb2.ExecRequest]) -> AsyncIterator[api_pb2.ExecResponse]:
        return self.kubelet_logs.exec(requests)

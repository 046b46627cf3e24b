"""ResourceService: the apiserver core -- create, read, list, update, delete and watch of every kind.

Why no wire types here: the core takes typed arguments (`options`) and object
JSON bytes, so the gRPC servicer (and a REST API) are thin adapters over it and
tests can call it directly.

Reads: get goes to the store (one key, always current); list and watch are
served by the per-resource watch caches. Writes are etcd Txns guarded by
revision compares: create-if-absent, and compare-and-swap on the
resourceVersion read (retried internally only when the client did not ask for
a specific version). What differs per kind is answered by the kind's strategy
(`strategy`), namespace admission by `admission`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from apiserver import objects, storage
from apiserver.admission import NamespaceAdmission
from apiserver.apply import manager as managed
from apiserver.etcd import EtcdClient, prefix_end
from apiserver.options import DeleteOptions, ListOptions, ObjectList, WatchEvent, WatchOptions
from apiserver.podsecurity import PodSecurityAdmission
from apiserver.policy.limitranger import LimitRanger
from apiserver.policy.quota import UPDATE_CHARGED, QuotaAdmission
from apiserver.selection import Selection
from apiserver.serviceaccount.admission import ServiceAccounts
from apiserver.serviceaccount.config import ServiceAccountConfig
from apiserver.storage import ContinueToken, StoredObject
from apiserver.strategy import DEFAULT_EVENT_TTL_SECONDS, Deletion, Strategies, Strategy
from apiserver.strategy.storage import default_class_name
from apiserver.watchcache import DEFAULT_BOOKMARK_SECONDS, WatchCache, send_bookmarks_forever
from apiserver.writes import ObjectWriter
from kubelite.api import ManagedFieldsEntry, Pod, registry
from kubelite.api.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Expired,
    InternalError,
    Invalid,
    NotFound,
    ServiceUnavailable,
    StatusCause,
)
from kubelite.api.meta import Resource
from kubelite.api.registry import KindInfo
from kubelite.api.storage import PersistentVolumeClaim

log = logging.getLogger(__name__)

MAX_UPDATE_ATTEMPTS = 16
GENERATE_NAME_ATTEMPTS = 8
LIST_CHUNK = 500
# What Kubernetes answers a binding (POST pods/{name}/binding): a success Status, code 201 Created.
BOUND_STATUS = storage.dump({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})


class ResourceService:
    """Handles create/get/list/update/update_status/delete/watch/bind for every kind."""

    def __init__(
        self,
        etcd: EtcdClient,
        *,
        consistency_timeout: float = 3.0,
        history: int = 10_000,
        watcher_buffer: int = 10_000,
        bookmark_interval: float = DEFAULT_BOOKMARK_SECONDS,
        default_not_ready_toleration_seconds: int = 30,
        default_unreachable_toleration_seconds: int = 30,
        pod_security_default: str = "privileged",
        service_accounts: ServiceAccountConfig | None = None,
        service_account_admission: bool = False,
        event_ttl: int = DEFAULT_EVENT_TTL_SECONDS,
    ) -> None:
        self.etcd = etcd
        self.consistency_timeout = consistency_timeout
        self._cache_options = {"history": history, "watcher_buffer": watcher_buffer}
        self._bookmark_interval = bookmark_interval
        self._bookmarks: asyncio.Task[None] | None = None
        self._started = False
        # Keyed by `KindInfo.storage_name` (the resource for built-in kinds, `<group>/<plural>` for custom ones).
        self.caches: dict[str, WatchCache] = {
            info.storage_name: self._new_cache(info) for info in registry.builtin_kinds()}
        self.admission = NamespaceAdmission(self)
        self.pod_security = PodSecurityAdmission(self.admission.labels, pod_security_default)
        self.service_accounts = ServiceAccounts(self, service_accounts, admission=service_account_admission)
        self.limit_ranger = LimitRanger(self.caches["limitranges"])
        self.quota = QuotaAdmission(self)
        self.strategies = Strategies(
            namespace_empty=self.admission.namespace_empty,
            not_ready_toleration_seconds=default_not_ready_toleration_seconds,
            unreachable_toleration_seconds=default_unreachable_toleration_seconds,
            event_ttl=event_ttl,
        )
        self.writers: dict[str, ObjectWriter] = {
            info.storage_name: self.strategies.of(info).writer(etcd) for info in registry.builtin_kinds()
        }

    def _new_cache(self, info: KindInfo) -> WatchCache:
        return WatchCache(self.etcd, info.storage_name, api_version=info.api_version, kind=info.kind,
                          history=int(self._cache_options["history"]),
                          watcher_buffer=int(self._cache_options["watcher_buffer"]))

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._started = True
        for cache in self.caches.values():
            cache.start()
        self._bookmarks = asyncio.create_task(
            send_bookmarks_forever(self.caches.values, self._bookmark_interval), name="watch-bookmarks")

    async def add_kind(self, info: KindInfo, strategy: Strategy[Any]) -> None:
        """Serve a kind registered at run time (a CRD's): its strategy, writer and watch cache.

        A cache of the same apiVersion+kind is kept (a CRD update that changes only its
        schema or columns must not drop the watches of its objects).
        """
        name = info.storage_name
        self.strategies.add(strategy)
        self.writers[name] = strategy.writer(self.etcd)
        cache = self.caches.get(name)
        if cache is not None and (cache.api_version, cache.kind) == (info.api_version, info.kind):
            return
        new = self._new_cache(info)
        self.caches[name] = new
        if self._started:
            new.start()
        if cache is not None:
            await cache.stop()

    async def remove_kind(self, info: KindInfo) -> None:
        """Stop serving a run-time kind (its watches end; its stored objects are left to the caller)."""
        name = info.storage_name
        self.strategies.remove(info)
        self.writers.pop(name, None)
        cache = self.caches.pop(name, None)
        if cache is not None:
            await cache.stop()

    async def stop(self) -> None:
        if self._bookmarks is not None:
            self._bookmarks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bookmarks
        await asyncio.gather(*(c.stop() for c in self.caches.values()))

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

    def kind_for(self, resource: str) -> KindInfo:
        info = registry.find(resource) if resource else None
        if info is None or info.storage_name not in self.caches:  # a custom kind this server does not serve
            raise NotFound(f'the server doesn\'t have a resource type "{resource}"', kind=resource)
        return info

    def _kind(self, resource: str) -> tuple[KindInfo, Strategy[Any], ObjectWriter]:
        info = self.kind_for(resource)
        return info, self.strategies.of(info), self.writers[info.storage_name]

    @staticmethod
    def _namespace(info: KindInfo, namespace: str, *, default: str = "default") -> str:
        return (namespace or default) if info.namespaced else ""

    @staticmethod
    def _name(name: str) -> str:
        if not name:
            raise BadRequest("resource name may not be empty")
        if "/" in name or name in (".", ".."):
            raise BadRequest(f'invalid resource name "{name}": may not contain "/"')
        return name

    async def read(self, info: KindInfo, namespace: str, name: str) -> StoredObject | None:
        """The current stored object, straight from the store (read-your-writes)."""
        key = storage.object_key(info.storage_name, namespace, name)
        kv, _ = await self.etcd.get(key)
        if kv is None:
            return None
        try:
            return storage.from_kv(info.storage_name, kv)
        except ValueError as exc:
            raise InternalError(f"stored object {key} is not decodable: {exc}") from None

    @staticmethod
    def _model(info: KindInfo, current: StoredObject) -> Resource:
        return info.model.from_dict(current.obj)

    @staticmethod
    def _stamped(info: KindInfo, old: dict[str, Any] | None, obj: Resource) -> dict[str, Any]:
        """`obj` as JSON with `managedFields` recorded for the request's field manager (`apply.manager`)."""
        data = managed.stamp(info.api_version, old, obj.to_dict())
        obj.metadata.managed_fields = [ManagedFieldsEntry.from_dict(e)
                                       for e in data["metadata"].get("managedFields", [])]
        return data

    @staticmethod
    def _respond(obj: dict[str, Any], rv: int | None = None) -> bytes:
        if rv is not None:
            obj = storage.with_rv(obj, rv)
        return storage.dump(obj)

    # ---- create ----------------------------------------------------------------------------

    async def create(self, resource: str, namespace: str, body: bytes, *, dry_run: bool = False) -> bytes:
        """Store a new object from its JSON `body`; the stored object's JSON."""
        info, strategy, writer = self._kind(resource)
        obj = objects.decode_for(info, objects.parse_body(body))
        ns = objects.check_namespace(info, obj, namespace)
        meta = obj.metadata
        generated = not meta.name and bool(meta.generate_name)
        if generated:
            meta.name = objects.generate_name(meta.generate_name or "")
        strategy.prepare_for_create(obj)
        if not meta.name:
            raise Invalid.for_object(
                info.kind, None, [StatusCause.required("metadata.name", "name or generateName is required")]
            )
        self._name(meta.name)
        if info.namespaced:
            await self.admission.check_create(ns)
        if isinstance(obj, Pod):
            # Mutating admission before validation, as Kubernetes orders them: the pod is
            # validated once, with the service account's volume in it (it was validated
            # before and again after this step).
            await self.service_accounts.admit_pod(obj)
        strategy.validate(obj)
        if isinstance(obj, PersistentVolumeClaim) and obj.spec.storage_class_name is None:
            obj.spec.storage_class_name = await self._default_storage_class()
        if isinstance(obj, Pod):
            if self.limit_ranger.admit_pod(ns, obj):  # needs valid quantities: after validation
                strategy.validate(obj)
            await self.pod_security.admit(ns, obj)
        if info.namespaced:
            await self.quota.admit(info.resource, ns, obj, dry_run=dry_run)
        plan = writer.allocate(obj)
        for _ in range(GENERATE_NAME_ATTEMPTS):
            name = meta.name or ""
            data = self._stamped(info, None, obj)
            if dry_run:
                return self._respond(data)
            with objects.stored_size_checked(info, name):
                written = await writer.create(storage.object_key(info.storage_name, ns, name), obj, data, plan)
            if written is not None:
                revision, data = written
                return self._respond(data, revision)
            if not generated:
                break
            meta.name = objects.generate_name(meta.generate_name or "")
        raise AlreadyExists.for_object(info.resource, meta.name or "")

    async def _default_storage_class(self) -> str | None:
        """DefaultStorageClass admission: the class a claim without `storageClassName` gets. Read from the
        store, not the watch cache, so a class created just before the claim is already seen."""
        info = registry.lookup("storageclasses")
        prefix = storage.list_prefix(info.resource, "")
        classes, _, _ = await self._list_from_store(info, Selection.parse("", "", ""), prefix, prefix, 0, 0)
        return default_class_name(classes)

    async def create_token(self, namespace: str, name: str, body: bytes) -> bytes:
        """The `serviceaccounts/token` subresource (TokenRequest): a signed token for ServiceAccount `name`."""
        return await self.service_accounts.create_token(namespace, name, body)

    # ---- get / list ------------------------------------------------------------------------

    async def get(self, resource: str, namespace: str, name: str) -> bytes:
        info = self.kind_for(resource)
        ns, name = self._namespace(info, namespace), self._name(name)
        current = await self.read(info, ns, name)
        if current is None:
            raise NotFound.for_object(info.resource, name)
        return current.raw

    async def list(self, resource: str, namespace: str, options: ListOptions) -> ObjectList:
        info = self.kind_for(resource)
        ns = self._namespace(info, namespace, default="")
        selection = Selection.parse(ns, options.label_selector, options.field_selector)
        if options.limit < 0:
            raise BadRequest("limit must not be negative")
        limit = int(options.limit)
        prefix = storage.list_prefix(info.storage_name, ns)
        if options.continue_token:
            token = ContinueToken.decode(options.continue_token)
            start = storage.resource_prefix(info.storage_name) + token.start
            if not start.startswith(prefix):
                raise BadRequest("continue key is not valid: it does not belong to this list")
            items, rv, next_key = await self._list_from_store(info, selection, prefix, start, token.revision, limit)
        else:
            cache = self.caches[info.storage_name]
            fresh_rv = await cache.wait_fresh(self.consistency_timeout)
            if fresh_rv is not None:
                rv = fresh_rv
                items, next_key = cache.list_objects(selection, limit)
            else:
                log.info("watch cache not fresh; listing from storage", extra={"resource": info.resource})
                items, rv, next_key = await self._list_from_store(info, selection, prefix, prefix, 0, limit)
        continue_token = ""
        if next_key is not None:
            continue_token = ContinueToken(rv, next_key[len(storage.resource_prefix(info.storage_name)):]).encode()
        return ObjectList([c.raw for c in items], str(rv), continue_token)

    async def _list_from_store(
        self, info: KindInfo, selection: Selection, prefix: str, start: str, revision: int, limit: int
    ) -> tuple[builtins.list[StoredObject], int, str | None]:
        """A (page of a) List read from the store at one revision (0 = now), filtered by `selection`."""
        end = prefix_end(prefix.encode())
        items: builtins.list[StoredObject] = []
        key = start
        rev = revision
        while True:
            try:
                chunk = await self.etcd.range(key, end, revision=rev, limit=max(LIST_CHUNK, limit + 1))
            except Expired:
                raise Expired(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                ) from None
            if rev == 0:
                rev = chunk.revision
            for kv in chunk.kvs:
                try:
                    c = storage.from_kv(info.storage_name, kv)
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

    # ---- update / update_status / bind ---------------------------------------------------------

    async def guaranteed_update(
        self,
        info: KindInfo,
        namespace: str,
        name: str,
        precondition_rv: int | None,
        mutate: Callable[[Resource], Resource | None],
        *,
        dry_run: bool = False,
        respond: bool = True,
        manage_fields: bool = True,
    ) -> bytes:
        """Read, apply `mutate`, compare-and-swap; retry on races only if no rv was requested.

        `mutate` gets a fresh copy of the stored object and returns the object to
        store (or None to leave it as it is). An object that ends up deleting
        with no finalizers and no grace left is removed instead of written
        (unless its strategy leaves removal to someone else). The answer is the
        stored object's JSON; `respond=False` (a caller that answers something
        else, such as a binding's Status) skips encoding it and answers b"".
        `manage_fields=False` writes below the field manager, as Kubernetes' binding does
        (its storage's GuaranteedUpdate): the object's managedFields stay as they were.
        """
        strategy, writer = self.strategies.of(info), self.writers[info.storage_name]
        key = storage.object_key(info.storage_name, namespace, name)
        # Start from the watch cache, like Kubernetes' cachedExistingObject: the write's
        # compare-and-swap on its revision catches a stale copy, and a verdict drawn from a
        # copy that may be stale (an error, "nothing to change") is re-checked on a fresh read.
        # That saves a storage read on every bind and status update.
        current = self.caches[info.storage_name].get(key)
        if current is not None and precondition_rv is not None and current.rv != precondition_rv:
            current = None
        fresh = False
        for _ in range(MAX_UPDATE_ATTEMPTS):
            if current is None:
                current, fresh = await self.read(info, namespace, name), True
            if current is None:
                raise NotFound.for_object(info.resource, name)
            if precondition_rv is not None and current.rv != precondition_rv:
                raise Conflict.for_object(info.resource, name)
            try:
                new = mutate(self._model(info, current))
            except ApiError:
                if fresh:
                    raise
                current = None
                continue
            if new is not None:
                new.metadata.resource_version = None
                data = self._stamped(info, current.obj, new) if manage_fields else new.to_dict()
            if new is None or objects.same_content(data, current.obj):
                if fresh:
                    return current.raw if respond else b""
                current = None
                continue
            if info.resource in UPDATE_CHARGED and new is not None:
                await self.quota.admit_update(info.resource, namespace, self._model(info, current), new,
                                              dry_run=dry_run)
            if dry_run:
                return self._respond(data, current.rv)
            if strategy.removes_when_finalized and objects.ready_to_remove(new):
                outcome = await writer.remove(key, current)
            else:
                with objects.stored_size_checked(info, name):
                    outcome = await writer.update(key, new, data, current)
            if outcome.ok:
                if not respond:
                    return b""
                return self._respond(outcome.data if outcome.data is not None else data, outcome.revision)
            if outcome.missing:
                raise NotFound.for_object(info.resource, name)
            if outcome.current is None:  # the writer cannot tell why: start again from a fresh read
                current = None
                continue
            if precondition_rv is not None:
                raise Conflict.for_object(info.resource, name)
            current, fresh = storage.from_kv(info.storage_name, outcome.current), True
        raise Conflict.for_object(info.resource, name, "too many concurrent updates; try again")

    def _update_target(
        self, resource: str, namespace: str, name: str, body: bytes
    ) -> tuple[KindInfo, str, str, Resource, int | None]:
        info = self.kind_for(resource)
        new = objects.decode_for(info, objects.parse_body(body))
        ns = objects.check_namespace(info, new, self._namespace(info, namespace))
        name = name or new.metadata.name or ""
        self._name(name)
        if new.metadata.name and new.metadata.name != name:
            raise BadRequest(
                f'the name of the object ("{new.metadata.name}") does not match the name on the request ("{name}")'
            )
        new.metadata.name = name
        rv_text = new.metadata.resource_version or ""
        rv = storage.parse_resource_version(rv_text) if rv_text else None
        return info, ns, name, new, rv

    async def update(self, resource: str, namespace: str, name: str, body: bytes, *, dry_run: bool = False) -> bytes:
        """Replace spec and metadata from `body` (status is kept); the stored object's JSON."""
        info, ns, name, new, rv = self._update_target(resource, namespace, name, body)
        strategy = self.strategies.of(info)

        def mutate(old: Resource) -> Resource:
            candidate = new.model_copy(deep=True)
            strategy.prepare_for_update(old, candidate)
            return candidate

        return await self.guaranteed_update(info, ns, name, rv, mutate, dry_run=dry_run)

    async def update_status(
        self, resource: str, namespace: str, name: str, body: bytes, *, dry_run: bool = False,
        subresource: str = "status",
    ) -> bytes:
        """Replace only the status (or what another update subresource such as a CSR's `approval`
        owns) from `body`; the stored object's JSON."""
        info, ns, name, new, rv = self._update_target(resource, namespace, name, body)
        strategy = self.strategies.of(info)
        return await self.guaranteed_update(
            info, ns, name, rv, lambda old: strategy.prepare_for_subresource_update(subresource, old, new),
            dry_run=dry_run,
        )

    async def bind(self, namespace: str, name: str, node_name: str, pod_uid: str = "",
                   annotations: dict[str, str] | None = None) -> bytes:
        """Assign a pod to a node (the scheduler's write); a success Status's JSON.

        Why a Status and not the pod: that is what Kubernetes answers a binding, and
        the scheduler binds every pod and reads nothing back, so encoding the pod here
        and decoding it there was wasted on each bind.
        """
        info = registry.lookup("pods")
        ns, name = self._namespace(info, namespace), self._name(name)
        if not node_name:
            raise BadRequest("a binding needs a target node name")
        pods = self.strategies.pods

        def mutate(pod: Resource) -> Resource:
            pods.bind(pod, node_name, pod_uid, annotations)
            return pod

        # No managedFields entry, as in Kubernetes: a binding is written below the field manager
        # (recording one walked the whole pod twice, ~9 % of the apiserver's CPU in a backlog).
        await self.guaranteed_update(info, ns, name, None, mutate, respond=False, manage_fields=False)
        return BOUND_STATUS

    async def patch(
        self, resource: str, namespace: str, name: str, apply: Callable[[dict[str, Any]], dict[str, Any]],
        *, status: bool = False, dry_run: bool = False, subresource: str = "",
    ) -> bytes:
        """Store `apply(current object JSON)` as an update (or a status update); the stored object's JSON.

        Why here and not in an adapter: the patch is re-applied to a fresh read when another
        write races it (Kubernetes' patcher does the same), which only the CAS loop can do.
        A `metadata.resourceVersion` left in the patched object must still match (optimistic lock).
        """
        info = self.kind_for(resource)
        ns, name = self._namespace(info, namespace), self._name(name)
        strategy = self.strategies.of(info)

        def mutate(old: Resource) -> Resource:
            current = old.to_dict()
            patched = apply(copy.deepcopy(current))
            if not isinstance(patched, dict):
                raise BadRequest("the patched object is not a JSON object")
            new = objects.decode_for(info, patched)
            if new.metadata.name not in (None, name):
                raise BadRequest(f'the name of the object ("{new.metadata.name}") does not match the name on '
                                 f'the request ("{name}")')
            new.metadata.name = name
            objects.check_namespace(info, new, ns)
            wanted = new.metadata.resource_version
            if wanted and wanted != old.metadata.resource_version:
                raise Conflict.for_object(info.resource, name)
            if status or subresource:
                return strategy.prepare_for_subresource_update(subresource or "status", old, new)
            strategy.prepare_for_update(old, new)
            return new

        return await self.guaranteed_update(info, ns, name, None, mutate, dry_run=dry_run)

    # ---- delete --------------------------------------------------------------------------------

    async def delete(self, resource: str, namespace: str, name: str, options: DeleteOptions | None = None) -> bytes:
        """Delete, or mark deleting (grace period, finalizers); the object's last or marked JSON."""
        options = options or DeleteOptions()
        info, strategy, writer = self._kind(resource)
        ns, name = self._namespace(info, namespace), self._name(name)
        policy = objects.validate_propagation(options.propagation_policy)
        key = storage.object_key(info.storage_name, ns, name)
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current = await self.read(info, ns, name)
            if current is None:
                raise NotFound.for_object(info.resource, name)
            obj = self._model(info, current)
            objects.check_preconditions(info, obj, options.precondition_uid, options.precondition_resource_version)
            verdict = await strategy.mark_for_deletion(obj, options.grace_period_seconds, policy)
            if verdict is Deletion.UNCHANGED or (options.dry_run and verdict is Deletion.REMOVE):
                return current.raw
            if verdict is Deletion.REMOVE:
                if (await writer.remove(key, current)).ok:
                    return current.raw
                continue
            obj.metadata.resource_version = None
            data = obj.to_dict()
            if options.dry_run:
                return self._respond(data, current.rv)
            result = await self.etcd.update(key, storage.encode_value(data), current.rv)
            if result.succeeded:
                return self._respond(data, result.revision)
        raise Conflict.for_object(info.resource, name, "too many concurrent updates; try again")

    # ---- watch ---------------------------------------------------------------------------------

    async def open_watch(self, resource: str, namespace: str, options: WatchOptions
                         ) -> AsyncGenerator[WatchEvent, None]:
        """Check and register a watch now (errors raise here), then hand back its event stream.

        Why two steps: an HTTP client must get a bad selector or an unknown resource as the
        response's status, before a streaming response has begun. The caller must close the
        returned generator (`aclosing`), which unregisters the watcher.
        """
        info = self.kind_for(resource)
        ns = self._namespace(info, namespace, default="")
        selection = Selection.parse(ns, options.label_selector, options.field_selector)
        rv_text = options.resource_version
        rv = None if rv_text in ("", "0") else storage.parse_resource_version(rv_text)
        cache = self.caches[info.storage_name]
        if not cache.ready.is_set():
            try:
                await asyncio.wait_for(cache.ready.wait(), self.consistency_timeout)
            except TimeoutError:
                raise ServiceUnavailable(f"the watch cache of {info.resource} is not ready yet; retry") from None
        if rv_text == "":
            await cache.wait_fresh(self.consistency_timeout)
        return cache.stream(cache.watch(selection, rv, options.allow_bookmarks))

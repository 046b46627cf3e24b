"""Informer: a local, indexed, always-catching-up copy of one kind of object.

Why: controllers, the scheduler and kubelets must not poll the apiserver.
An informer lists once, then watches from the list's resourceVersion; when the
stream breaks it resumes from the last resourceVersion it saw (BOOKMARKs
advance it), so no change is missed or delivered twice. When the apiserver
says that version is too old (Expired) it lists again and tells the handlers
the difference, including objects deleted while it was not watching.

Handlers are plain sync callables that should only enqueue keys (see
`WorkQueue`); the store is the read side that reconcilers query. Everything
runs on one event loop, and store mutations are synchronous, so readers never
see a half-applied change.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from typing import Generic, TypeVar

from kubelite.api import Resource
from kubelite.api.errors import Expired
from kubelite.client.api_client import ApiClient
from kubelite.client.lazyitems import LazyItems
from kubelite.wire.gcpause import gc_paused

log = logging.getLogger("client.informer")

T = TypeVar("T", bound=Resource)

IndexFunc = Callable[[T], list[str]]
AddHandler = Callable[[T], None]
UpdateHandler = Callable[[T, T], None]
DeleteHandler = Callable[[T], None]

INITIAL_BACKOFF = 0.1
MAX_BACKOFF = 5.0


def meta_namespace_key(obj: Resource) -> str:
    """The cache/work-queue key of an object: "ns/name", or "name" when cluster-scoped."""
    return _key(obj.metadata.namespace or "", obj.metadata.name or "")


def _key(ns: str, name: str) -> str:
    return f"{ns}/{name}" if ns else name


def _listed_key_and_version(items: Sequence[T], index: int) -> tuple[str, str]:
    """(key, resourceVersion) of a listed item, read from its JSON when the List is lazy so
    an unchanged object's model is never built (see `LazyItems`)."""
    if isinstance(items, LazyItems):
        meta = items.raw(index).get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        return _key(str(meta.get("namespace") or ""), str(meta.get("name") or "")), str(meta.get("resourceVersion") or "")
    obj = items[index]
    return meta_namespace_key(obj), obj.metadata.resource_version or ""


def split_meta_namespace_key(key: str) -> tuple[str, str]:
    """Inverse of meta_namespace_key: ("ns", "name"), or ("", "name")."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else ("", ns)


class Store(Generic[T]):
    """Objects by key plus secondary indexes (name -> value -> keys)."""

    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self._index_funcs: dict[str, IndexFunc[T]] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def list(self) -> builtins.list[T]:
        return builtins.list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    def add_index(self, name: str, fn: IndexFunc[T]) -> None:
        """Index every current and future object by `fn(obj)` (a list of values)."""
        self._index_funcs[name] = fn
        index: dict[str, set[str]] = {}
        self._indexes[name] = index
        for key, obj in self._items.items():
            for value in self._values(fn, obj):
                index.setdefault(value, set()).add(key)

    def by_index(self, name: str, value: str) -> builtins.list[T]:
        """Objects whose index `name` contains `value` (KeyError for an unknown index)."""
        keys = self._indexes[name].get(value, ())
        return [self._items[k] for k in sorted(keys)]

    def index_keys(self, name: str, value: str) -> builtins.list[str]:
        return sorted(self._indexes[name].get(value, ()))

    @staticmethod
    def _values(fn: IndexFunc[T], obj: T) -> Iterable[str]:
        try:
            return fn(obj)
        except Exception:
            log.exception("index function failed for %s", meta_namespace_key(obj))
            return ()

    def _unindex(self, key: str, obj: T) -> None:
        for name, fn in self._index_funcs.items():
            index = self._indexes[name]
            for value in self._values(fn, obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _put(self, key: str, obj: T) -> T | None:
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, fn in self._index_funcs.items():
            for value in self._values(fn, obj):
                self._indexes[name].setdefault(value, set()).add(key)
        return old

    def _remove(self, key: str) -> T | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old


class Informer(Generic[T]):
    """List + watch of one kind into a `Store`, with change handlers."""

    def __init__(
        self,
        client: ApiClient,
        cls: type[T],
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        resync_seconds: float = 0,
    ):
        self.client = client
        self.cls = cls
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_seconds = resync_seconds
        self.store: Store[T] = Store()
        self.resource_version = ""  # last version seen (list, event or bookmark)
        self._adds: list[AddHandler[T]] = []
        self._updates: list[UpdateHandler[T]] = []
        self._deletes: list[DeleteHandler[T]] = []
        self._synced = asyncio.Event()
        self._running = False
        self._progressed = False  # the current watch delivered an event

    def __repr__(self) -> str:
        return f"Informer({self.cls.__name__}, ns={self.namespace!r}, rv={self.resource_version!r})"

    @property
    def has_synced(self) -> bool:
        """True once the first list has been applied to the store."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def add_handlers(
        self,
        on_add: AddHandler[T] | None = None,
        on_update: UpdateHandler[T] | None = None,
        on_delete: DeleteHandler[T] | None = None,
    ) -> None:
        """Register handlers; added after sync, they get on_add for what is cached."""
        if on_add is not None:
            self._adds.append(on_add)
            if self.has_synced:
                for obj in self.store.list():
                    self._call(on_add, obj)
        if on_update is not None:
            self._updates.append(on_update)
        if on_delete is not None:
            self._deletes.append(on_delete)

    def add_index(self, name: str, fn: IndexFunc[T]) -> None:
        self.store.add_index(name, fn)

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """List and watch until cancelled; never returns on its own."""
        if self._running:
            raise RuntimeError(f"{self!r} is already running")
        self._running = True
        resync = asyncio.create_task(self._resync_loop()) if self.resync_seconds > 0 else None
        try:
            await self._list_and_watch_forever()
        finally:
            self._running = False
            if resync is not None:
                resync.cancel()
                await asyncio.gather(resync, return_exceptions=True)

    async def _list_and_watch_forever(self) -> None:
        backoff = INITIAL_BACKOFF
        expired_streak = 0  # Expired answers since the last event: relist at once only the first time
        need_list = True
        while True:
            self._progressed = False
            expired = False
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch()
                # The server ended the stream cleanly (e.g. it is shutting
                # down): resume from where we are, gently.
                log.debug("%r: watch ended, resuming", self)
            except Expired as exc:
                log.info("%r: resourceVersion %s expired (%s); relisting", self, self.resource_version, exc)
                need_list = expired = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%r: list/watch failed: %s; retrying in about %.1fs", self, exc, backoff)
            if self._progressed:  # the stream delivered something: the connection is healthy
                backoff, expired_streak = INITIAL_BACKOFF, 0
            delay = backoff
            if expired:
                expired_streak += 1
                if expired_streak == 1:
                    delay = 0.0
            if delay > 0:
                backoff = min(backoff * 2, MAX_BACKOFF)
                await asyncio.sleep(delay * random.uniform(0.8, 1.0))

    async def _relist(self) -> None:
        result = await self.client.list(
            self.cls, self.namespace, label_selector=self.label_selector, field_selector=self.field_selector
        )
        self._replace(result.items)
        self.resource_version = result.resource_version
        self._synced.set()

    async def _watch(self) -> None:
        """Watch from self.resource_version until the stream ends or fails."""
        events = self.client.watch(
            self.cls,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            allow_bookmarks=True,
        )
        async with aclosing(events) as stream:
            async for ev in stream:
                self._progressed = True
                obj = ev.object
                if ev.type in ("ADDED", "MODIFIED"):
                    self._upsert(obj)
                elif ev.type == "DELETED":
                    self._delete(obj)
                elif ev.type != "BOOKMARK":
                    log.warning("%r: ignoring watch event of type %r", self, ev.type)
                    continue
                rv = obj.metadata.resource_version
                if rv:
                    self.resource_version = rv

    # ------------------------------------------------------- store + handlers

    def _upsert(self, obj: T) -> None:
        old = self.store._put(meta_namespace_key(obj), obj)
        if old is None:
            for h in self._adds:
                self._call(h, obj)
        else:
            for u in self._updates:
                self._call(u, old, obj)

    def _delete(self, obj: T) -> None:
        key = meta_namespace_key(obj)
        old = self.store._remove(key)
        # Prefer the final state the server sent; fall back to the cached one.
        final = obj if obj.metadata.name else old
        if final is None:
            return
        for h in self._deletes:
            self._call(h, final)

    def _replace(self, items: Sequence[T]) -> None:
        """Make the store equal `items`, telling handlers only what changed. An object whose
        resourceVersion the store already holds is the same object: the cached model stays
        and the listed one is never built (a relist of 10,000 unchanged pods parses JSON only)."""
        with gc_paused():  # synchronous; the new models hold no cycles (see gcpause)
            fresh: dict[str, tuple[int, str]] = {}  # key -> (index, resourceVersion)
            for i in range(len(items)):
                key, rv = _listed_key_and_version(items, i)
                fresh[key] = (i, rv)
            for key in self.store.keys():
                if key not in fresh:
                    old = self.store._remove(key)
                    if old is not None:
                        for h in self._deletes:
                            self._call(h, old)
            for key, (i, rv) in fresh.items():
                current = self.store.get(key)
                if current is None or current.metadata.resource_version != rv or not rv:
                    self._upsert(items[i])

    async def _resync_loop(self) -> None:
        """Periodically replay every cached object as an update (old is new).

        Level-triggered controllers use this to re-reconcile objects whose
        external state (processes, other kinds) may have drifted.
        """
        while True:
            await asyncio.sleep(self.resync_seconds)
            if not self.has_synced:
                continue
            for obj in self.store.list():
                for u in self._updates:
                    self._call(u, obj, obj)

    def _call(self, handler: Callable[..., None], *args: T) -> None:
        try:
            handler(*args)
        except Exception:
            log.exception("%r: handler %r failed", self, handler)

"""The watch cache: one kvstore watch per resource, served to many clients from memory.

Why: every controller, scheduler and kubelet lists and watches; if each held
its own kvstore watch the store would do the fan-out (and a List of 10k pods
would decode 10k values each time). Instead one etcd watch per resource feeds
an in-memory store (by key, with a namespace index and a spec.nodeName index
for pods) and a bounded ring buffer of recent events. Lists are answered from
the store, watches resume from the ring buffer, and a resourceVersion older
than the buffer is Expired so the client relists.

Consistency: a List without a resourceVersion must show every write that was
acknowledged before it (apply -> get). `wait_fresh` reads the store's current
revision (a cheap Range) and waits until the cache has caught up with it, or
proves with one keys-only Range that nothing under the prefix changed since
the cache's revision; the caller falls back to reading the store when the wait
times out.

Fan-out is synchronous and never awaits: each watcher has a bounded buffer and
a watcher that falls too far behind is closed (it resumes from its last
resourceVersion or relists), so one slow client never delays the others.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field

from apiserver import storage
from apiserver.etcd import Compacted, EtcdClient, WatchBatch, prefix_end
from apiserver.options import WatchEvent
from apiserver.selection import Selection
from kubelite.api.errors import ApiError, Expired, ServiceUnavailable
from kubelite.wire.gcpause import gc_paused

log = logging.getLogger(__name__)

DEFAULT_HISTORY = 10_000
DEFAULT_WATCHER_BUFFER = 10_000
HISTORY_SECONDS = 150.0
MIN_HISTORY = 100
"""The history keeps its newest MIN_HISTORY events, and beyond those only events younger than
HISTORY_SECONDS (up to `history` in all). Why: every event holds an object version, parsed and
serialized (~5 KB for a Lease), and on an idle cluster the node and leader Leases alone are
~0.8 events a second: a history bounded only by 10,000 events grew the apiserver by ~50 MB
in 3.5 hours for Leases (and Node status reports are ~10× bigger). A resuming watcher is at
most one bookmark interval (60 s) behind plus its reconnect; an older one gets Expired and
relists, as with Kubernetes' watch cache (100 events, 75 s)."""
DEFAULT_BOOKMARK_SECONDS = 60.0
"""How often idle watchers that allow bookmarks are told the current revision (Kubernetes: about
once a minute). Why not more often: every bookmark is a message to every such watcher (60 on an
idle cluster), and at 5 s they were the idle apiserver's busiest traffic; a resume from a
minute-old revision is still served from the cache's history."""


CachedObject = storage.StoredObject


@dataclass(slots=True)
class CacheEvent:
    type: str  # ADDED, MODIFIED or DELETED
    rv: int
    obj: CachedObject
    prev: CachedObject | None
    at: float = 0.0  # the cache's clock when applied (how long the history keeps it)


Shown = dict[str, WatchEvent]
"""One live event as its watchers get it, by the type they see it as (selector transitions
differ): one shared WatchEvent per type, so its wire encodings are made once per event
(`WatchEvent.encoded`). Built per fan-out and not kept in the history, so the encodings
are freed once every watcher has sent them."""


def _shown_as(shown: Shown, kind: str, ev: CacheEvent) -> WatchEvent:
    found = shown.get(kind)
    if found is None:
        found = shown[kind] = WatchEvent(kind, ev.obj.raw)
    return found


def _as_deleted(prev: CachedObject, rv: int) -> CachedObject:
    """The last state of a deleted object, stamped with the deletion's revision (as Kubernetes does)."""
    return storage.stored(prev.key, prev.namespace, prev.name, rv, storage.with_rv(prev.obj, rv))


@dataclass(eq=False)
class Watcher:
    """One client's watch: a selection, an initial batch, then a bounded buffer of live events."""

    selection: Selection
    start_rv: int
    allow_bookmarks: bool
    capacity: int
    initial: deque[WatchEvent] = field(default_factory=deque)  # not bounded by capacity
    pending: deque[WatchEvent] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    close_reason: str = ""
    last_rv: int = 0

    def offer(self, ev: CacheEvent, shown: Shown) -> None:
        """Queue `ev` as this watcher sees it (selector transitions become ADDED/DELETED);
        `shown` holds the event's instances shared with the other watchers of this fan-out."""
        if self.closed or ev.rv <= self.start_rv:
            return
        kind = _transition(self.selection, ev)
        if kind is None:
            return
        if len(self.pending) >= self.capacity:
            self.close("watcher fell too far behind")
            return
        self.pending.append(_shown_as(shown, kind, ev))
        self.last_rv = ev.rv
        self.wake.set()

    def bookmark(self, rv: int, event: WatchEvent) -> None:
        if self.closed or not self.allow_bookmarks or rv < max(self.last_rv, self.start_rv):
            return
        if len(self.pending) < self.capacity:
            self.pending.append(event)
            self.last_rv = rv
            self.wake.set()

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self.pending.clear()
            self.initial.clear()
            self.wake.set()


class WatchCache:
    """The in-memory mirror of one resource, kept current by a single kvstore watch."""

    def __init__(
        self,
        etcd: EtcdClient,
        resource: str,
        *,
        api_version: str = "v1",
        kind: str = "",
        history: int = DEFAULT_HISTORY,
        watcher_buffer: int = DEFAULT_WATCHER_BUFFER,
        history_seconds: float = HISTORY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resource = resource
        self.api_version = api_version
        self.kind = kind
        self.prefix = storage.resource_prefix(resource)
        self._etcd = etcd
        self._history: deque[CacheEvent] = deque(maxlen=history)
        self._watcher_buffer = watcher_buffer
        self._history_seconds = history_seconds
        self._clock = clock
        self.store: dict[str, CachedObject] = {}
        self._by_ns: dict[str, dict[str, CachedObject]] = {}
        self._by_node: dict[str, dict[str, CachedObject]] = {}
        self._sorted: dict[str, list[str]] = {}  # namespace ("" = all) -> sorted keys, dropped on add/delete
        self.revision = 0  # every event up to here is applied
        self.oldest_rv = 0  # the history holds every event after this revision
        self.ready = asyncio.Event()
        self._watchers: set[Watcher] = set()
        self._node_watchers: dict[str, set[Watcher]] = {}
        self._changed = asyncio.Event()  # replaced after every applied batch; wakes wait_fresh
        self._task: asyncio.Task[None] | None = None
        self.relists = 0
        self.last_error: str | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"watchcache-{self.resource}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for w in self.watchers():
            w.close("server shutting down")
        self._watchers.clear()
        self._node_watchers.clear()

    async def _run(self) -> None:
        backoff = 0.05
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                elif await self._etcd.current_revision() < self.revision:
                    log.warning("store revision went backwards; relisting", extra={"resource": self.resource})
                    need_list = True
                    continue
                async with self._etcd.watch(self.prefix, self.revision + 1) as watch:
                    async for batch in watch:
                        self.apply(batch)
                        backoff = 0.05
                        self.last_error = None
            except Compacted as exc:
                log.info("watch compacted; relisting", extra={"resource": self.resource, "compact": exc.compact_revision})
                need_list = True
            except ApiError as exc:
                self.last_error = str(exc)
                log.info("storage watch interrupted; retrying", extra={"resource": self.resource, "error": str(exc)})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one resource's cache die for good
                self.last_error = repr(exc)
                log.exception("watch cache failure", extra={"resource": self.resource})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _relist(self) -> None:
        """Load the full state; existing watchers are closed since history restarts here."""
        result = await self._etcd.range_prefix(self.prefix)
        store: dict[str, CachedObject] = {}
        with gc_paused():  # thousands of objects decoded at once (kubelite/wire/gcpause.py says why)
            for kv in result.kvs:
                try:
                    store[kv.key] = storage.from_kv(self.resource, kv)
                except ValueError as exc:
                    log.error("skipping undecodable stored object", extra={"key": kv.key, "error": str(exc)})
        relist = self.ready.is_set()
        self.store = store
        self._by_ns, self._by_node, self._sorted = {}, {}, {}
        for c in store.values():
            self._index(c)
        self._history.clear()
        self.revision = self.oldest_rv = result.revision
        if relist:
            self.relists += 1
            for w in self.watchers():
                w.close("watch cache relisted")
            self._watchers.clear()
            self._node_watchers.clear()
        self.ready.set()
        self._notify_changed()

    # ---- applying store events ----------------------------------------------------------------

    def _index(self, c: CachedObject) -> None:
        self._by_ns.setdefault(c.namespace, {})[c.key] = c
        if c.node_name:
            self._by_node.setdefault(c.node_name, {})[c.key] = c

    def _unindex(self, c: CachedObject) -> None:
        ns = self._by_ns.get(c.namespace)
        if ns is not None:
            ns.pop(c.key, None)
            if not ns:
                del self._by_ns[c.namespace]
        if c.node_name:
            node = self._by_node.get(c.node_name)
            if node is not None:
                node.pop(c.key, None)
                if not node:
                    del self._by_node[c.node_name]

    def apply(self, batch: WatchBatch) -> None:
        """Apply one batch of store events and fan it out; progress notifications are ignored."""
        for ev in batch.events:
            rv = ev.kv.mod_revision
            prev = self.store.get(ev.kv.key)
            if prev is not None and prev.rv >= rv:
                continue  # already applied (a resumed watch may repeat the boundary)
            if ev.type == "PUT":
                try:
                    cur = storage.from_kv(self.resource, ev.kv)
                except ValueError as exc:
                    log.error("skipping undecodable stored object", extra={"key": ev.kv.key, "error": str(exc)})
                    continue
                self.store[cur.key] = cur
                if prev is not None:
                    self._unindex(prev)
                else:
                    self._sorted.clear()
                self._index(cur)
                self._record(CacheEvent("MODIFIED" if prev is not None else "ADDED", rv, cur, prev))
            elif prev is not None:
                del self.store[prev.key]
                self._unindex(prev)
                self._sorted.clear()
                self._record(CacheEvent("DELETED", rv, _as_deleted(prev, rv), prev))
        if batch.progress:
            return  # see wait_fresh: progress notifications are not trusted to cover all events
        self.revision = max(self.revision, batch.revision)
        self._notify_changed()

    def _record(self, ev: CacheEvent) -> None:
        if self._history.maxlen is not None and len(self._history) == self._history.maxlen:
            self.oldest_rv = self._history[0].rv
        ev.at = self._clock()
        self._history.append(ev)
        stale = ev.at - self._history_seconds
        while len(self._history) > MIN_HISTORY and self._history[0].at < stale:
            self.oldest_rv = self._history.popleft().rv
        shown: Shown = {}
        for w in self._targets(ev):
            w.offer(ev, shown)
            if w.closed:
                self._unregister(w)

    def _targets(self, ev: CacheEvent) -> Iterable[Watcher]:
        """Watchers that may care about `ev`: O(watchers of this resource), O(1) for node-scoped ones."""
        if not self._node_watchers:
            return list(self._watchers)
        targets = list(self._watchers)
        nodes = {ev.obj.node_name, ev.prev.node_name if ev.prev is not None else ""} - {""}
        for node in nodes:
            targets.extend(self._node_watchers.get(node, ()))
        return targets

    # ---- consistency ---------------------------------------------------------------------------

    def _notify_changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def next_change(self) -> None:
        """Return once the cache has applied its next batch of events (or a relist)."""
        await self._changed.wait()

    async def wait_fresh(self, timeout: float) -> int | None:
        """Wait until the cache reflects every write acknowledged before this call.

        Target = the store's current revision. The cache is fresh when it has
        applied events up to the target, or — for a resource with no recent
        writes — when the store proves that nothing under the prefix changed
        after the cache's revision: no key with a newer mod_revision and the
        same number of keys (one keys-only Range at the target revision).
        Why not progress notifications: etcd 3.4 may send one before the
        events it covers, which would make a list miss a write.

        Returns the revision the cache's contents are known to match (the
        List's resourceVersion), or None — the caller then reads the store —
        if the cache is not synced or does not catch up within `timeout` seconds.
        """
        if not self.ready.is_set():
            return None
        target = await self._etcd.current_revision()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        end = prefix_end(self.prefix.encode())
        while self.revision < target:
            applied = self.revision
            changed = self._changed
            found = await self._etcd.range(
                self.prefix, end, revision=target, keys_only=True, min_mod_revision=applied + 1
            )
            if self.revision == applied and not found.kvs and found.count == len(self.store):
                return target
            if self.revision != applied:
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(changed.wait(), min(remaining, 0.2))
            except TimeoutError:
                pass
        return self.revision

    # ---- reads ---------------------------------------------------------------------------------

    def get(self, key: str) -> CachedObject | None:
        return self.store.get(key)

    def _candidates(self, selection: Selection) -> tuple[str, dict[str, CachedObject]]:
        if selection.node_name is not None:
            node = self._by_node.get(selection.node_name, {})
            if selection.namespace:
                return "", {k: c for k, c in node.items() if c.namespace == selection.namespace}
            return "", node
        if selection.namespace:
            return selection.namespace, self._by_ns.get(selection.namespace, {})
        return "", self.store

    def list_objects(self, selection: Selection, limit: int = 0) -> tuple[list[CachedObject], str | None]:
        """(matching objects sorted by key, key to continue from or None)."""
        sort_id, source = self._candidates(selection)
        if source is self.store or source is self._by_ns.get(sort_id):
            keys = self._sorted.get(sort_id)
            if keys is None:
                keys = self._sorted[sort_id] = sorted(source)
        else:
            keys = sorted(source)
        items: list[CachedObject] = []
        match = selection.matches
        for i, key in enumerate(keys):
            c = source[key]
            if not match(c):
                continue
            if limit and len(items) == limit:
                return items, keys[i]
            items.append(c)
        return items, None

    def count(self, namespace: str) -> int:
        return len(self._by_ns.get(namespace, {}))

    # ---- watches -------------------------------------------------------------------------------

    def watchers(self) -> list[Watcher]:
        out = list(self._watchers)
        for ws in self._node_watchers.values():
            out.extend(ws)
        return out

    def watcher_count(self) -> int:
        return len(self._watchers) + sum(len(ws) for ws in self._node_watchers.values())

    def _register(self, w: Watcher) -> None:
        node = w.selection.node_name
        if node:
            self._node_watchers.setdefault(node, set()).add(w)
        else:
            self._watchers.add(w)

    def _unregister(self, w: Watcher) -> None:
        self._watchers.discard(w)
        node = w.selection.node_name
        if node and node in self._node_watchers:
            self._node_watchers[node].discard(w)
            if not self._node_watchers[node]:
                del self._node_watchers[node]

    def watch(self, selection: Selection, resource_version: int | None, allow_bookmarks: bool) -> Watcher:
        """Register a watcher. `resource_version` None = synthetic ADDED of current state first.

        Synchronous on purpose: snapshot/replay and registration happen with no
        await in between, so no event can fall between them.
        """
        if not self.ready.is_set():
            raise ServiceUnavailable(f"the watch cache of {self.resource} is not ready yet; retry")
        w = Watcher(selection, 0, allow_bookmarks, self._watcher_buffer)
        if resource_version is None:
            _, source = self._candidates(selection)
            for c in source.values():
                if selection.matches(c):
                    w.initial.append(WatchEvent("ADDED", c.raw))
            w.start_rv = w.last_rv = self.revision
        else:
            if resource_version < self.oldest_rv:
                raise Expired(f"too old resource version: {resource_version} ({self.oldest_rv})")
            w.start_rv = w.last_rv = resource_version
            rvs = [ev.rv for ev in self._history]
            for ev in list(self._history)[bisect.bisect_right(rvs, resource_version):]:
                kind = _transition(selection, ev)
                if kind:
                    w.initial.append(WatchEvent(kind, ev.obj.raw))
            w.last_rv = max(resource_version, self.revision)
        if w.initial:
            w.wake.set()
        self._register(w)
        return w

    def stop_watch(self, w: Watcher) -> None:
        w.close("client went away")
        self._unregister(w)

    async def stream(self, w: Watcher) -> AsyncGenerator[WatchEvent, None]:
        """`w`'s events until it is closed; closing the generator (`aclosing`) unregisters `w`.

        The only per-watcher hop between the fan-out and a transport: every event passes
        through here once per watcher, so the loop stays flat (no generator in between).
        """
        try:
            while True:
                while w.initial and not w.closed:
                    yield w.initial.popleft()
                while w.pending and not w.closed:
                    yield w.pending.popleft()
                if w.closed:
                    return
                w.wake.clear()
                if not w.pending:
                    await w.wake.wait()
        finally:
            self.stop_watch(w)

    def bookmark_object(self, rv: int) -> bytes:
        return storage.dump({"apiVersion": self.api_version, "kind": self.kind,
                             "metadata": {"resourceVersion": str(rv)}})

    def send_bookmarks(self) -> None:
        event = WatchEvent("BOOKMARK", self.bookmark_object(self.revision))
        for w in self.watchers():
            w.bookmark(self.revision, event)
            if w.closed:
                self._unregister(w)


async def send_bookmarks_forever(caches: Callable[[], Iterable[WatchCache]], interval: float) -> None:
    """Until cancelled: every `interval`, tell the idle watchers of every cache its current revision,
    so a resume starts recent.

    Why one loop for all caches: a timer per cache woke the apiserver 32 times per interval on
    an idle cluster (one per served kind) to do the same thing.
    """
    while True:
        await asyncio.sleep(interval)
        for cache in list(caches()):
            if cache.revision:
                cache.send_bookmarks()


def _transition(selection: Selection, ev: CacheEvent) -> str | None:
    if ev.type == "MODIFIED":
        now = selection.matches(ev.obj)
        before = ev.prev is not None and selection.matches(ev.prev)
        return "MODIFIED" if now and before else "ADDED" if now else "DELETED" if before else None
    return ev.type if selection.matches(ev.obj) else None


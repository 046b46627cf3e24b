"""Watch hub: etcd watch streams served from the store's change history.

Why cursors instead of per-watcher queues: the MVCC store already keeps every
change since the compaction revision, in revision order (`MVCCStore.changes`).
A watcher is therefore just a key range plus `next_rev`, the first revision it
has not seen. Catching up from an old start revision and following live writes
are the same loop (read changes from `next_rev`, advance `next_rev`), so events
are never skipped or duplicated and there is no hand-off race between "replay"
and "live". A slow client costs no memory: its cursor simply lags, and if
compaction overtakes it the watch is cancelled with `compact_revision` set,
exactly as etcd does for a watch created below the compaction revision.

One `WatchStream` per gRPC Watch call holds any number of watchers (watch_id);
`WatchHub.notify()` (called after each applied batch) wakes the streams that have
something to send. Why not every stream: an apiserver keeps one stream per resource
(~30), and a batch of pod creates concerns one of them; waking all of them cost
each applied batch ~30 task switches and a scan of the batch per stream, which
made the member serving the apiserver spend more CPU on idle watch streams than on
the writes. A caught-up watcher whose range no new key falls in has its cursor
moved past the batch by the hub instead (what its own scan would have done).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from kubelite.pb.etcd import kv_pb2, rpc_pb2
from kvstore.mvcc import MVCCStore, to_kv
from kvstore.validate import in_range

MAX_EVENTS_PER_RESPONSE = 1000
MAX_BYTES_PER_RESPONSE = 1024 * 1024
_MAX_SCAN = 10_000
_Create = rpc_pb2.WatchCreateRequest

HeaderFn = Callable[[int], rpc_pb2.ResponseHeader]


@dataclass
class Watcher:
    watch_id: int
    key: bytes
    end: bytes
    next_rev: int
    prev_kv: bool
    no_put: bool
    no_delete: bool
    progress_notify: bool
    last_sent: float


class WatchHub:
    """All open watch streams of one store."""

    def __init__(
        self, store: MVCCStore, header: HeaderFn, progress_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.header = header
        self.progress_interval = progress_interval
        self.clock = clock
        self._streams: set[WatchStream] = set()
        self._announced: tuple[MVCCStore, int] = (store, store.revision)
        """The store and revision the last `notify` covered: the keys changed since are the news."""

    def open_stream(self) -> WatchStream:
        stream = WatchStream(self)
        self._streams.add(stream)
        return stream

    def _closed(self, stream: WatchStream) -> None:
        self._streams.discard(stream)

    def notify(self) -> None:
        """New changes were applied: wake the streams whose watchers they concern.

        When the store was replaced (a snapshot) or its revision did not simply move
        forward, every stream is woken and looks for itself, as a fresh watcher would.
        """
        store = self.store
        last_store, last_rev = self._announced
        self._announced = (store, store.revision)
        if last_store is not store or store.revision < last_rev:
            for stream in self._streams:
                stream.wake()
            return
        if store.revision == last_rev:
            return
        keys = [c.rec.key for c in store.changes[store.changes_from(last_rev + 1):]]
        for stream in self._streams:
            stream.offer(last_rev + 1, store.revision, keys)

    def close_all(self) -> None:
        for stream in list(self._streams):
            stream.close()

    @property
    def watcher_count(self) -> int:
        return sum(len(s.watchers) for s in self._streams)


class WatchStream:
    """The watchers of one client stream, and the responses owed to it in order."""

    def __init__(self, hub: WatchHub) -> None:
        self._hub = hub
        self.watchers: dict[int, Watcher] = {}
        self._outbox: deque[rpc_pb2.WatchResponse] = deque()
        self._wake = asyncio.Event()
        self._next_id = 0
        self._progress_requested = False
        self._closed = False

    def wake(self) -> None:
        self._wake.set()

    def offer(self, first: int, last: int, keys: list[bytes]) -> None:
        """Revisions first..last changed `keys`: wake this stream if a watcher may want them,
        else move every (caught-up) watcher's cursor past them without a wake-up."""
        if self._wake.is_set():
            return
        watchers = self.watchers.values()
        for w in watchers:
            if w.next_rev > last:
                continue  # starts later: nothing here for it
            if w.next_rev != first or any(in_range(k, w.key, w.end) for k in keys):
                self.wake()  # behind (catching up), or a key in its range
                return
        for w in watchers:
            if w.next_rev == first:
                w.next_rev = last + 1

    def _header(self, revision: int | None = None) -> rpc_pb2.ResponseHeader:
        return self._hub.header(self._hub.store.revision if revision is None else revision)

    def create(self, req: rpc_pb2.WatchCreateRequest) -> int:
        """Register a watcher; its `created` response is queued. Returns the id (-1 if refused)."""
        store = self._hub.store
        watch_id = req.watch_id
        if watch_id:
            if watch_id in self.watchers:
                self._outbox.append(rpc_pb2.WatchResponse(
                    header=self._header(), watch_id=-1, created=True, canceled=True,
                    cancel_reason=f"etcdserver: watch id {watch_id} already in use",
                ))
                self.wake()
                return -1
        else:
            while self._next_id in self.watchers:
                self._next_id += 1
            watch_id = self._next_id
            self._next_id += 1
        start = req.start_revision if req.start_revision > 0 else store.revision + 1
        self.watchers[watch_id] = Watcher(
            watch_id=watch_id, key=req.key, end=req.range_end, next_rev=start, prev_kv=req.prev_kv,
            no_put=_Create.NOPUT in req.filters, no_delete=_Create.NODELETE in req.filters,
            progress_notify=req.progress_notify, last_sent=self._hub.clock(),
        )
        self._outbox.append(rpc_pb2.WatchResponse(header=self._header(), watch_id=watch_id, created=True))
        self.wake()
        return watch_id

    def cancel(self, watch_id: int) -> None:
        if self.watchers.pop(watch_id, None) is not None:
            self._outbox.append(rpc_pb2.WatchResponse(header=self._header(), watch_id=watch_id, canceled=True))
            self.wake()

    def request_progress(self) -> None:
        self._progress_requested = True
        self.wake()

    def close(self) -> None:
        self._closed = True
        self._hub._closed(self)
        self.wake()

    def _collect(self, w: Watcher) -> tuple[rpc_pb2.WatchResponse | None, bool]:
        """Next response for `w` (or None) and whether more history is waiting."""
        store = self._hub.store
        if w.next_rev < store.compact_revision:
            del self.watchers[w.watch_id]
            return rpc_pb2.WatchResponse(
                header=self._header(), watch_id=w.watch_id, canceled=True,
                compact_revision=store.compact_revision,
                cancel_reason="etcdserver: mvcc: required revision has been compacted",
            ), False
        if w.next_rev > store.revision:
            return None, False
        revs, changes = store.change_revs, store.changes
        i, n = store.changes_from(w.next_rev), len(changes)
        events: list[kv_pb2.Event] = []
        size = scanned = 0
        last_rev = 0
        while i < n:
            rev = revs[i]
            if rev != last_rev and (
                len(events) >= MAX_EVENTS_PER_RESPONSE or size >= MAX_BYTES_PER_RESPONSE or scanned >= _MAX_SCAN
            ):
                break
            change = changes[i]
            rec = change.rec
            last_rev = rev
            scanned += 1
            i += 1
            if not in_range(rec.key, w.key, w.end):
                continue
            if rec.version:
                if w.no_put:
                    continue
                ev = kv_pb2.Event(type=kv_pb2.Event.PUT, kv=to_kv(rec))
            else:
                if w.no_delete:
                    continue
                ev = kv_pb2.Event(type=kv_pb2.Event.DELETE, kv=to_kv(rec))
            if w.prev_kv and change.prev is not None:
                ev.prev_kv.CopyFrom(to_kv(change.prev))
            events.append(ev)
            size += len(rec.key) + len(rec.value) + 32
        more = i < n
        w.next_rev = last_rev + 1 if more else store.revision + 1
        if not events:
            return None, more
        w.last_sent = self._hub.clock()
        resp = rpc_pb2.WatchResponse(header=self._header(last_rev if more else None), watch_id=w.watch_id)
        resp.events.extend(events)
        return resp, more

    def _progress(self) -> list[rpc_pb2.WatchResponse]:
        """Requested and periodic progress notifications (only when caught up)."""
        store = self._hub.store
        out: list[rpc_pb2.WatchResponse] = []
        synced = all(w.next_rev > store.revision for w in self.watchers.values())
        if self._progress_requested and synced:
            self._progress_requested = False
            out.append(rpc_pb2.WatchResponse(header=self._header(), watch_id=-1))
        now = self._hub.clock()
        for w in self.watchers.values():
            if w.progress_notify and w.next_rev > store.revision and now - w.last_sent >= self._hub.progress_interval:
                w.last_sent = now
                out.append(rpc_pb2.WatchResponse(header=self._header(), watch_id=w.watch_id))
        return out

    async def responses(self) -> AsyncIterator[rpc_pb2.WatchResponse]:
        """Every response for this stream, in order, until `close()`."""
        while not self._closed:
            self._wake.clear()
            while self._outbox:
                yield self._outbox.popleft()
            busy = False
            for watch_id in list(self.watchers):
                w = self.watchers.get(watch_id)
                if w is None:
                    continue
                resp, more = self._collect(w)
                busy = busy or more
                if resp is not None:
                    yield resp
                    while self._outbox:
                        yield self._outbox.popleft()
            if busy:
                continue
            for resp in self._progress():
                yield resp
            if self._outbox or self._closed:
                continue
            # A timer that sets the event, not `wait_for`: that would start a task per wait.
            timer = asyncio.get_running_loop().call_later(self._hub.progress_interval, self._wake.set) if any(
                w.progress_notify for w in self.watchers.values()) else None
            try:
                await self._wake.wait()
            finally:
                if timer is not None:
                    timer.cancel()

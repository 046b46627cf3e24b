"""Watch hub: ordering, resume from a past revision, filters, prev_kv, compaction, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from kubelite.pb.etcd import internal_pb2, kv_pb2, rpc_pb2
from kvstore.mvcc import MVCCStore
from kvstore.watch import WatchHub, WatchStream


class Fixture:
    def __init__(self) -> None:
        self.store = MVCCStore()
        self.hub = WatchHub(self.store, lambda rev: rpc_pb2.ResponseHeader(revision=rev), progress_interval=3600)
        self.index = 0

    def apply(self, **req: object) -> None:
        self.index += 1
        data = internal_pb2.InternalRaftRequest(**req).SerializeToString()  # type: ignore[arg-type]
        self.store.apply(self.index, 1, data)
        self.hub.notify()

    def put(self, key: bytes, value: bytes = b"v") -> None:
        self.apply(put=rpc_pb2.PutRequest(key=key, value=value))

    def delete(self, key: bytes) -> None:
        self.apply(delete_range=rpc_pb2.DeleteRangeRequest(key=key))


class Reader:
    """Consumes a stream's responses in the background."""

    def __init__(self, stream: WatchStream) -> None:
        self.stream = stream
        self.responses: list[rpc_pb2.WatchResponse] = []
        self._iter: AsyncIterator[rpc_pb2.WatchResponse] = stream.responses()
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for resp in self._iter:
            self.responses.append(resp)
            self._changed.set()

    def events(self, watch_id: int | None = None) -> list[tuple[str, bytes, int]]:
        return [
            (kv_pb2.Event.EventType.Name(e.type), e.kv.key, e.kv.mod_revision)
            for r in self.responses if watch_id is None or r.watch_id == watch_id for e in r.events
        ]

    async def until(self, cond: Callable[[], object], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not cond():
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        self.stream.close()
        await self.task


@pytest.fixture
def f() -> Fixture:
    return Fixture()


def create(key: bytes, end: bytes = b"", **kw: object) -> rpc_pb2.WatchCreateRequest:
    return rpc_pb2.WatchCreateRequest(key=key, range_end=end, **kw)  # type: ignore[arg-type]


async def test_live_events_in_order_for_prefix(f: Fixture) -> None:
    r = Reader(f.hub.open_stream())
    wid = r.stream.create(create(b"/a/", b"/a0"))
    await r.until(lambda: r.responses)
    assert r.responses[0].created and r.responses[0].watch_id == wid
    for i in range(50):
        f.put(b"/a/%02d" % i)
        f.put(b"/b/x")
    f.delete(b"/a/00")
    await r.until(lambda: len(r.events()) == 51)
    revs = [rev for _, _, rev in r.events()]
    assert revs == sorted(revs) and len(set(revs)) == 51
    assert r.events()[-1] == ("DELETE", b"/a/00", f.store.revision)
    await r.close()


async def test_resume_from_past_revision_without_gap_or_duplicate(f: Fixture) -> None:
    for i in range(10):
        f.put(b"k", b"%d" % i)  # revisions 2..11
    r = Reader(f.hub.open_stream())
    r.stream.create(create(b"k", start_revision=5, prev_kv=True))
    f.put(b"k", b"live")  # revision 12, arrives while history is being replayed
    await r.until(lambda: len(r.events()) == 8)
    assert [rev for _, _, rev in r.events()] == list(range(5, 13))
    events = [e for resp in r.responses for e in resp.events]
    assert events[0].prev_kv.value == b"2" and events[-1].kv.value == b"live"
    await r.close()


async def test_filters_and_multiple_watchers_per_stream(f: Fixture) -> None:
    r = Reader(f.hub.open_stream())
    no_put = r.stream.create(create(b"x", filters=[rpc_pb2.WatchCreateRequest.NOPUT]))
    everything = r.stream.create(create(b"\0", b"\0"))
    assert no_put != everything
    f.put(b"x")
    f.put(b"y")
    f.delete(b"x")
    await r.until(lambda: len(r.events(everything)) == 3 and len(r.events(no_put)) == 1)
    assert r.events(no_put) == [("DELETE", b"x", 4)]
    r.stream.cancel(no_put)
    f.delete(b"y")
    await r.until(lambda: len(r.events(everything)) == 4)
    assert any(resp.canceled and resp.watch_id == no_put for resp in r.responses)
    assert len(r.events(no_put)) == 1
    await r.close()


async def test_compacted_start_revision_cancels_with_compact_revision(f: Fixture) -> None:
    for i in range(6):
        f.put(b"k", b"%d" % i)
    f.apply(compaction=rpc_pb2.CompactionRequest(revision=5))
    r = Reader(f.hub.open_stream())
    wid = r.stream.create(create(b"k", start_revision=3))
    await r.until(lambda: len(r.responses) == 2)
    created, canceled = r.responses
    assert created.created and canceled.canceled and canceled.compact_revision == 5
    assert canceled.watch_id == wid and not r.stream.watchers
    ok = r.stream.create(create(b"k", start_revision=5))
    await r.until(lambda: len(r.events(ok)) == 3)
    await r.close()


async def test_progress_request_reports_revision_when_synced(f: Fixture) -> None:
    f.put(b"a")
    r = Reader(f.hub.open_stream())
    r.stream.create(create(b"zzz"))
    r.stream.request_progress()
    await r.until(lambda: any(resp.watch_id == -1 for resp in r.responses))
    progress = [resp for resp in r.responses if resp.watch_id == -1][0]
    assert progress.header.revision == f.store.revision and not progress.events
    await r.close()


async def test_large_backlog_is_chunked_at_revision_boundaries(f: Fixture) -> None:
    for i in range(2500):
        f.put(b"k%04d" % i)
    r = Reader(f.hub.open_stream())
    r.stream.create(create(b"k", b"l", start_revision=1))
    await r.until(lambda: len(r.events()) == 2500)
    chunks = [resp for resp in r.responses if resp.events]
    assert len(chunks) >= 3
    assert chunks[0].header.revision == chunks[0].events[-1].kv.mod_revision
    await r.close()


async def test_streams_woken_only_for_their_keys(f: Fixture) -> None:
    """An apiserver keeps one stream per resource: a write wakes only the stream that watches it,
    the others' cursors move past it, and they still see their own later writes, in order."""
    pods, other = Reader(f.hub.open_stream()), Reader(f.hub.open_stream())
    pods.stream.create(create(b"/registry/pods/", b"/registry/pods0", progress_notify=True))
    wid = other.stream.create(create(b"/registry/secrets/", b"/registry/secrets0"))
    await pods.until(lambda: pods.responses)
    await other.until(lambda: other.responses)
    woken: list[WatchStream] = []
    wake = WatchStream.wake

    def counting_wake(stream: WatchStream) -> None:
        woken.append(stream)
        wake(stream)

    WatchStream.wake = counting_wake  # type: ignore[method-assign]
    try:
        for i in range(20):
            f.put(f"/registry/pods/default/p{i}".encode())
        f.put(b"/registry/secrets/default/s")
    finally:
        WatchStream.wake = wake  # type: ignore[method-assign]
    assert woken.count(other.stream) == 1 and woken.count(pods.stream) >= 1
    await pods.until(lambda: len(pods.events()) == 20)
    await other.until(lambda: other.events(wid))
    assert other.events(wid) == [("PUT", b"/registry/secrets/default/s", 22)]
    assert [e[2] for e in pods.events()] == list(range(2, 22))
    # A watcher created on a lagging stream position still gets the history it asks for.
    late = other.stream.create(create(b"/registry/pods/", b"/registry/pods0", start_revision=2))
    await other.until(lambda: len(other.events(late)) == 20)
    await pods.close()
    await other.close()

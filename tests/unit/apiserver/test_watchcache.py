"""Watch-cache logic without a store: apply events, ring buffer, resume, Expired,
selector transitions, slow watchers, lists with indexes and limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apiserver import storage
from apiserver.etcd import EtcdClient, KeyValue, WatchBatch, WatchedEvent
from apiserver.selection import Selection
from apiserver.watchcache import HISTORY_SECONDS, MIN_HISTORY, WatchCache, Watcher
from kubelite.api.errors import Expired


def pod(name: str, ns: str = "default", labels: dict[str, str] | None = None, node: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": spec}


class Feeder:
    """Plays the store: hands batches of events to a cache with increasing revisions."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache
        self.rev = cache.revision

    def put(self, obj: dict[str, Any]) -> int:
        self.rev += 1
        key = storage.object_key("pods", obj["metadata"]["namespace"], obj["metadata"]["name"])
        kv = KeyValue(key, storage.encode_value(obj), self.rev, self.rev, 1)
        self.cache.apply(WatchBatch([WatchedEvent("PUT", kv)], self.rev, False))
        return self.rev

    def delete(self, ns: str, name: str) -> int:
        self.rev += 1
        kv = KeyValue(storage.object_key("pods", ns, name), b"", 0, self.rev, 0)
        self.cache.apply(WatchBatch([WatchedEvent("DELETE", kv)], self.rev, False))
        return self.rev


def make_cache(history: int = 100, watcher_buffer: int = 100) -> tuple[WatchCache, Feeder]:
    cache = WatchCache(EtcdClient(["127.0.0.1:1"]), "pods", kind="Pod", history=history,
                       watcher_buffer=watcher_buffer)
    cache.revision = cache.oldest_rv = 10
    cache.ready.set()
    return cache, Feeder(cache)


def drain(w: Watcher) -> list[tuple[str, str]]:
    out = []
    for queue in (w.initial, w.pending):
        while queue:
            event = queue.popleft()
            out.append((event.type, json.loads(event.object)["metadata"].get("name", "")))
    return out


def test_apply_builds_store_indexes_and_events() -> None:
    cache, feed = make_cache()
    feed.put(pod("a", node="n1"))
    feed.put(pod("b", ns="other"))
    rv = feed.put(pod("a", node="n2", labels={"x": "y"}))
    assert cache.revision == rv
    assert cache.get("/registry/pods/default/a") is not None
    assert cache.get("/registry/pods/default/a").rv == rv  # type: ignore[union-attr]
    items, more = cache.list_objects(Selection.parse("", "", "spec.nodeName=n2"))
    assert [i.name for i in items] == ["a"] and more is None
    assert cache.list_objects(Selection.parse("", "", "spec.nodeName=n1"))[0] == []
    assert [i.name for i in cache.list_objects(Selection.parse("other"))[0]] == ["b"]
    feed.delete("default", "a")
    assert [i.name for i in cache.list_objects(Selection.parse(""))[0]] == ["b"]
    assert cache.count("default") == 0


def test_list_is_sorted_and_paginates() -> None:
    cache, feed = make_cache()
    for name in ["c", "a", "e", "b", "d"]:
        feed.put(pod(name))
    items, next_key = cache.list_objects(Selection.parse("default"), limit=2)
    assert [i.name for i in items] == ["a", "b"]
    assert next_key == "/registry/pods/default/c"
    items, next_key = cache.list_objects(Selection.parse("default"), limit=5)
    assert [i.name for i in items] == ["a", "b", "c", "d", "e"] and next_key is None


def test_watch_from_now_gets_initial_state_then_live_events() -> None:
    cache, feed = make_cache()
    feed.put(pod("a"))
    w = cache.watch(Selection.parse("default"), None, allow_bookmarks=False)
    feed.put(pod("b"))
    feed.delete("default", "a")
    assert drain(w) == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]


def test_resume_replays_history_and_too_old_is_expired() -> None:
    cache, feed = make_cache(history=3)
    r1 = feed.put(pod("a"))
    feed.put(pod("b"))
    w = cache.watch(Selection.parse(""), r1, allow_bookmarks=False)
    assert drain(w) == [("ADDED", "b")]
    feed.put(pod("c"))
    feed.put(pod("d"))  # history now holds b, c, d; a's event fell out
    with pytest.raises(Expired):
        cache.watch(Selection.parse(""), r1 - 1, allow_bookmarks=False)
    w2 = cache.watch(Selection.parse(""), r1, allow_bookmarks=False)
    assert drain(w2) == [("ADDED", "b"), ("ADDED", "c"), ("ADDED", "d")]


def test_history_beyond_the_newest_events_keeps_only_recent_ones() -> None:
    """An idle cluster's Lease renewals must not fill the history for hours: beyond MIN_HISTORY
    events, those older than HISTORY_SECONDS go, and a resume from before them is Expired."""
    now = [0.0]
    cache = WatchCache(EtcdClient(["127.0.0.1:1"]), "pods", kind="Pod", history=10_000, clock=lambda: now[0])
    cache.revision = cache.oldest_rv = 10
    cache.ready.set()
    feed = Feeder(cache)
    first = feed.put(pod("p0"))
    for i in range(1, MIN_HISTORY + 50):
        now[0] = i * 1.0  # one event a second
        feed.put(pod(f"p{i}"))
    w = cache.watch(Selection.parse(""), first, allow_bookmarks=False)  # all still younger than HISTORY_SECONDS
    assert len(drain(w)) == MIN_HISTORY + 49
    now[0] = HISTORY_SECONDS + 20.5
    last = feed.put(pod("late"))
    with pytest.raises(Expired):  # p0..p20 are older than HISTORY_SECONDS now
        cache.watch(Selection.parse(""), first, allow_bookmarks=False)
    recent = cache.watch(Selection.parse(""), last - 10, allow_bookmarks=False)
    assert len(drain(recent)) == 10
    now[0] = 10 * HISTORY_SECONDS
    feed.put(pod("later"))  # all old, but the newest MIN_HISTORY stay
    kept = cache.watch(Selection.parse(""), last - MIN_HISTORY + 1, allow_bookmarks=False)
    assert len(drain(kept)) == MIN_HISTORY


def test_selector_transitions_become_added_and_deleted() -> None:
    cache, feed = make_cache()
    w = cache.watch(Selection.parse("", "app=web"), None, allow_bookmarks=False)
    feed.put(pod("a", labels={"app": "web"}))
    feed.put(pod("a", labels={"app": "web", "v": "2"}))
    feed.put(pod("a", labels={"app": "db"}))
    feed.put(pod("a", labels={"app": "db", "v": "3"}))
    feed.put(pod("a", labels={"app": "web"}))
    assert drain(w) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a"), ("ADDED", "a")]


def test_watchers_seeing_an_event_alike_share_it_and_its_encoding() -> None:
    """A write seen by many watchers is encoded once per wire form, not once per watcher; a
    watcher that sees it differently (a selector transition) gets its own event."""
    cache, feed = make_cache()
    feed.put(pod("a", labels={"app": "db"}))
    alike = [cache.watch(Selection.parse(""), None, allow_bookmarks=False) for _ in range(3)]
    web = cache.watch(Selection.parse("", "app=web"), None, allow_bookmarks=False)
    for w in alike:
        drain(w)
    feed.put(pod("a", labels={"app": "web"}))
    events = [w.pending[0] for w in alike]
    assert {e.type for e in events} == {"MODIFIED"} and all(e is events[0] for e in events)
    assert web.pending[0].type == "ADDED"
    encodes: list[str] = []

    def encode(event: Any) -> bytes:
        encodes.append(event.type)
        return bytes(event.object)
    wire = [e.encoded("form", encode) for e in [*events, web.pending[0]]]
    assert encodes == ["MODIFIED", "ADDED"]
    assert wire[0] is wire[1] is wire[2]


def test_node_scoped_watchers_only_see_their_node() -> None:
    cache, feed = make_cache()
    n1 = cache.watch(Selection.parse("", "", "spec.nodeName=n1"), None, allow_bookmarks=False)
    n2 = cache.watch(Selection.parse("", "", "spec.nodeName=n2"), None, allow_bookmarks=False)
    feed.put(pod("a"))
    feed.put(pod("a", node="n1"))
    feed.put(pod("b", node="n2"))
    feed.delete("default", "a")
    assert drain(n1) == [("ADDED", "a"), ("DELETED", "a")]
    assert drain(n2) == [("ADDED", "b")]
    assert cache.watcher_count() == 2
    cache.stop_watch(n1)
    assert cache.watcher_count() == 1


def test_slow_watcher_is_closed_without_affecting_others() -> None:
    cache, feed = make_cache(watcher_buffer=3)
    slow = cache.watch(Selection.parse(""), None, allow_bookmarks=False)
    fast = cache.watch(Selection.parse(""), None, allow_bookmarks=False)
    for i in range(3):
        feed.put(pod(f"p{i}"))
    assert len(drain(fast)) == 3
    feed.put(pod("p3"))
    assert slow.closed and "behind" in slow.close_reason
    assert drain(fast) == [("ADDED", "p3")]
    assert cache.watcher_count() == 1


def test_bookmarks_only_for_watchers_that_asked() -> None:
    cache, feed = make_cache()
    feed.put(pod("a"))
    with_bm = cache.watch(Selection.parse(""), cache.revision, allow_bookmarks=True)
    without = cache.watch(Selection.parse(""), cache.revision, allow_bookmarks=False)
    cache.send_bookmarks()
    assert [e.type for e in with_bm.pending] == ["BOOKMARK"]
    assert json.loads(with_bm.pending[0].object)["metadata"]["resourceVersion"] == str(cache.revision)
    assert not without.pending


def test_repeated_event_is_ignored() -> None:
    cache, feed = make_cache()
    feed.put(pod("a"))
    w = cache.watch(Selection.parse(""), None, allow_bookmarks=False)
    drain(w)
    key = "/registry/pods/default/a"
    stale = KeyValue(key, storage.encode_value(pod("a")), feed.rev, feed.rev, 1)
    cache.apply(WatchBatch([WatchedEvent("PUT", stale)], feed.rev, False))
    assert drain(w) == []

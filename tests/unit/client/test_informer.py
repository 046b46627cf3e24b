"""Informer: list then watch, resume from the last seen resourceVersion after a
dropped stream, relist and emit the difference after Expired, indexes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from kubelite.api import ObjectMeta, Pod
from kubelite.client import ApiClient, Informer, LocalTransport, meta_namespace_key
from tests.unit.client.fake_apiserver import FakeApiServer


async def eventually(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def pod(name: str, ns: str = "default", **labels: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace=ns, labels=labels))


class Recorder:
    """Handlers that log what the informer told them, as readable strings."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_add(self, obj: Pod) -> None:
        self.seen.append(f"add {meta_namespace_key(obj)}@{obj.metadata.resource_version}")

    def on_update(self, old: Pod, new: Pod) -> None:
        self.seen.append(f"update {meta_namespace_key(new)}@{new.metadata.resource_version}")

    def on_delete(self, obj: Pod) -> None:
        self.seen.append(f"delete {meta_namespace_key(obj)}")


@pytest.fixture
async def env() -> AsyncIterator[tuple[FakeApiServer, ApiClient]]:
    server = FakeApiServer()
    client = ApiClient(LocalTransport(server))
    yield server, client
    await client.close()


async def start(informer: Informer[Pod]) -> asyncio.Task[None]:
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.wait_synced(), 5)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_list_then_watch_feeds_store_and_handlers(env: tuple[FakeApiServer, ApiClient]) -> None:
    server, client = env
    a = await client.create(pod("a", app="web"))
    await client.create(pod("b", app="db"))
    inf = Informer(client, Pod, namespace="default")
    rec = Recorder()
    inf.add_handlers(rec.on_add, rec.on_update, rec.on_delete)
    inf.add_index("app", lambda p: [p.metadata.labels.get("app", "")])
    task = await start(inf)
    try:
        assert inf.has_synced
        assert sorted(rec.seen) == ["add default/a@2", "add default/b@3"]
        assert [p.metadata.name for p in inf.store.by_index("app", "web")] == ["a"]

        a.metadata.labels["app"] = "db"
        await client.update(a)
        await client.delete(Pod, "b")
        await eventually(lambda: len(rec.seen) == 4, what="update and delete")
        assert rec.seen[2:] == ["update default/a@4", "delete default/b"]
        assert inf.store.get("default/b") is None
        assert [p.metadata.name for p in inf.store.by_index("app", "db")] == ["a"]
        assert inf.store.by_index("app", "web") == []
    finally:
        await stop(task)
    await eventually(lambda: server.active_watches == 0, what="watch stream closed")


async def test_resume_after_dropped_stream_loses_and_duplicates_nothing(env: tuple[FakeApiServer, ApiClient]) -> None:
    server, client = env
    a = await client.create(pod("a"))
    await client.create(pod("b"))
    inf = Informer(client, Pod)
    rec = Recorder()
    inf.add_handlers(rec.on_add, rec.on_update, rec.on_delete)
    task = await start(inf)
    try:
        await client.create(pod("c"))
        a = await client.update(a)
        await eventually(lambda: len(rec.seen) == 4, what="events before the drop")
        last_seen = inf.resource_version
        assert last_seen == "5"

        server.down = True  # the apiserver goes away: the stream ends, reconnects fail
        await server.drop_watches()
        await eventually(lambda: server.active_watches == 0, what="stream dropped")
        await client.create(pod("d"))  # changes while the informer is disconnected
        await client.delete(Pod, "b")
        failed_attempts = len(server.watch_requests)
        await eventually(lambda: len(server.watch_requests) > failed_attempts, what="a retry while down")
        server.down = False

        await eventually(lambda: len(rec.seen) == 6, what="events after resume")
        assert rec.seen == [
            "add default/a@2",
            "add default/b@3",
            "add default/c@4",
            "update default/a@5",
            "add default/d@6",
            "delete default/b",
        ]
        # Every reconnect resumed from the last version seen, not from the list's.
        assert {r.resource_version for r in server.watch_requests[1:]} == {last_seen}
        assert all(r.allow_bookmarks for r in server.watch_requests)
        assert server.calls.count("List") == 1
        assert sorted(p.metadata.name or "" for p in inf.store.list()) == ["a", "c", "d"]
    finally:
        await stop(task)


async def test_expired_relists_and_emits_the_difference(env: tuple[FakeApiServer, ApiClient]) -> None:
    server, client = env
    await client.create(pod("keep"))
    gone = await client.create(pod("gone"))
    changed = await client.create(pod("changed"))
    inf = Informer(client, Pod)
    rec = Recorder()
    inf.add_handlers(rec.on_add, rec.on_update, rec.on_delete)
    task = await start(inf)
    try:
        assert len(rec.seen) == 3
        kept = inf.store.get("default/keep")
        server.down = True
        await server.drop_watches()
        await eventually(lambda: server.active_watches == 0, what="stream dropped")
        await client.delete(Pod, "gone")
        changed.metadata.labels["v"] = "2"
        await client.update(changed)
        await client.create(pod("new"))
        server.compact()  # the informer's resourceVersion is now too old
        server.down = False

        await eventually(lambda: len(rec.seen) == 6, what="relist diff")
        assert sorted(rec.seen[3:]) == ["add default/new@7", "delete default/gone", "update default/changed@6"]
        assert server.calls.count("List") == 2
        assert inf.store.get("default/gone") is None
        assert gone.metadata.name not in {p.metadata.name for p in inf.store.list()}
        stored = inf.store.get("default/changed")
        assert stored is not None and stored.metadata.labels == {"v": "2"}
        # An object whose resourceVersion did not change keeps its cached model (the relist
        # read only its key and version, never building a new one).
        assert kept is not None and inf.store.get("default/keep") is kept

        # And it keeps watching from the new list's version.
        await client.create(pod("after"))
        await eventually(lambda: len(rec.seen) == 7, what="event after relist")
        assert rec.seen[-1] == "add default/after@8"
    finally:
        await stop(task)


async def test_bookmarks_advance_the_resume_version(env: tuple[FakeApiServer, ApiClient]) -> None:
    server, client = env
    await client.create(pod("a"))
    inf = Informer(client, Pod, namespace="default")
    task = await start(inf)
    try:
        await client.create(pod("x", ns="other"))  # invisible to this informer
        await client.create(pod("y", ns="other"))
        await server.bookmark("pods")
        await eventually(lambda: inf.resource_version == "4", what="bookmark applied")
        await server.drop_watches()
        await eventually(lambda: len(server.watch_requests) == 2, what="resumed watch")
        assert server.watch_requests[1].resource_version == "4"
        assert len(inf.store) == 1
    finally:
        await stop(task)


async def test_handlers_added_after_sync_see_the_cache_and_failing_handlers_are_contained(
    env: tuple[FakeApiServer, ApiClient],
) -> None:
    _, client = env
    await client.create(pod("a"))
    inf = Informer(client, Pod)

    def broken(obj: Pod) -> None:
        raise RuntimeError("handler bug")

    inf.add_handlers(on_add=broken)
    task = await start(inf)
    try:
        late = Recorder()
        inf.add_handlers(on_add=late.on_add)
        assert late.seen == ["add default/a@2"]
        await client.create(pod("b"))
        await eventually(lambda: len(late.seen) == 2, what="event despite the broken handler")
    finally:
        await stop(task)


async def test_resync_replays_cached_objects_as_updates(env: tuple[FakeApiServer, ApiClient]) -> None:
    _, client = env
    await client.create(pod("a"))
    inf = Informer(client, Pod, resync_seconds=0.01)
    rec = Recorder()
    inf.add_handlers(on_update=rec.on_update)
    task = await start(inf)
    try:
        await eventually(lambda: rec.seen.count("update default/a@2") >= 2, what="resyncs")
    finally:
        await stop(task)


def test_meta_namespace_key() -> None:
    from kubelite.api import Node

    assert meta_namespace_key(pod("a", ns="ns1")) == "ns1/a"
    assert meta_namespace_key(Node(metadata=ObjectMeta(name="n1"))) == "n1"

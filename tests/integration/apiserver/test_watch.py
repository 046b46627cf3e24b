"""Watch through the apiserver's watch cache: initial state, resume, Expired, selectors,
bookmarks, and surviving a kvstore restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelite.api import Container, ObjectMeta, Pod, PodSpec
from kubelite.api.errors import Expired
from kubelite.client import ApiClient, WatchEvent
from tests.integration.controlplane import ControlPlane, running_control_plane
from tests.polling import eventually


def make_pod(name: str, labels: dict[str, str] | None = None) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="default", labels=labels or {}),
               spec=PodSpec(containers=[Container(name="main", image="busybox:1.35")]))


class Collector:
    """Reads a watch in the background so tests can wait for events with a deadline."""

    def __init__(self, stream: AsyncIterator[WatchEvent[Pod]]) -> None:
        self.events: list[tuple[str, str]] = []
        self.rvs: list[str] = []
        self.error: BaseException | None = None
        self._stream = stream
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for ev in self._stream:
                self.events.append((ev.type, ev.object.metadata.name or ""))
                self.rvs.append(ev.object.metadata.resource_version or "")
        except Exception as exc:
            self.error = exc

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, str]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events) < count:
            if self.error is not None:
                raise self.error
            assert asyncio.get_running_loop().time() < deadline, f"only got {self.events}"
            await asyncio.sleep(0.01)
        return self.events

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def registered(plane: ControlPlane, count: int) -> None:
    """Wait until the apiserver holds `count` watchers: its watch cache snapshots and registers a
    watcher in one step, so every write after this is seen by each of them as a change."""
    async def probe() -> bool:
        return plane.apiserver.service.watcher_count() >= count
    await eventually(probe, f"{count} watchers registered in the apiserver", timeout=10)


async def test_watch_sends_current_state_then_changes(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await c.create(make_pod("before"))
    w = Collector(c.watch(Pod, namespace="default"))
    try:
        assert await w.wait_for(1) == [("ADDED", "before")]
        pod = await c.create(make_pod("after"))
        pod.metadata.labels["x"] = "y"
        await c.update(pod)
        await c.delete(Pod, "after")
        assert await w.wait_for(4) == [("ADDED", "before"), ("ADDED", "after"), ("MODIFIED", "after"),
                                       ("DELETED", "after")]
        assert int(w.rvs[-1]) > int(w.rvs[-2]), "DELETED carries the deletion's revision"
    finally:
        await w.close()


async def test_watch_resumes_from_resource_version(control_plane: ControlPlane) -> None:
    c = control_plane.client
    listed = await c.list(Pod, namespace="default")
    pod = await c.create(make_pod("r1"))
    pod.metadata.labels["v"] = "2"
    await c.update(pod)
    w = Collector(c.watch(Pod, namespace="default", resource_version=listed.resource_version))
    try:
        assert await w.wait_for(2) == [("ADDED", "r1"), ("MODIFIED", "r1")]
    finally:
        await w.close()
    w2 = Collector(c.watch(Pod, namespace="default", resource_version=pod.metadata.resource_version or ""))
    try:
        assert await w2.wait_for(1) == [("MODIFIED", "r1")]
    finally:
        await w2.close()


async def test_watch_with_selectors_sees_transitions(control_plane: ControlPlane) -> None:
    c = control_plane.client
    before = control_plane.apiserver.service.watcher_count()
    by_label = Collector(c.watch(Pod, namespace="default", label_selector="app=web"))
    by_node = Collector(c.watch(Pod, field_selector="spec.nodeName=node-1"))
    try:
        await registered(control_plane, before + 2)  # both see the writes below as changes
        await c.create(make_pod("other", {"app": "db"}))
        web = await c.create(make_pod("w", {"app": "web"}))
        web.metadata.labels["app"] = "db"
        await c.update(web)
        assert await by_label.wait_for(2) == [("ADDED", "w"), ("DELETED", "w")]
        await c.bind("default", "other", "node-1")
        assert await by_node.wait_for(1) == [("ADDED", "other")]
        await c.delete(Pod, "other", grace_period_seconds=0)
        assert await by_node.wait_for(2) == [("ADDED", "other"), ("DELETED", "other")]
    finally:
        await by_label.close()
        await by_node.close()


async def test_too_old_resource_version_is_expired(tmp_path: Path) -> None:
    async with running_control_plane(tmp_path, history=5) as plane:
        c = plane.client
        first = await c.create(make_pod("old"))
        for i in range(10):
            first.metadata.labels["i"] = str(i)
            first.metadata.resource_version = None
            await c.update(first)
        with pytest.raises(Expired):
            async for _ in c.watch(Pod, namespace="default", resource_version=first.metadata.resource_version or "1"):
                break


async def test_bookmarks_carry_the_current_revision(tmp_path: Path) -> None:
    async with running_control_plane(tmp_path, bookmark_interval=0.05) as plane:
        c = plane.client
        await c.create(make_pod("bm"))
        stream = c.watch(Pod, namespace="default", allow_bookmarks=True)
        async with contextlib.aclosing(stream):
            async for ev in stream:
                if ev.type == "BOOKMARK":
                    assert int(ev.object.metadata.resource_version or "0") > 0
                    break


async def test_survives_kvstore_restart(tmp_path: Path) -> None:
    async with running_control_plane(tmp_path) as plane:
        c = plane.client
        await c.create(make_pod("kept"))
        w = Collector(c.watch(Pod, namespace="default"))
        try:
            await w.wait_for(1)
            await plane.restart_kvstore()
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                try:
                    await c.create(make_pod("after-restart"))
                    break
                except Exception:
                    assert asyncio.get_running_loop().time() < deadline, "apiserver did not recover"
                    await asyncio.sleep(0.1)
            assert ("ADDED", "after-restart") in await w.wait_for(2)
            names = {p.metadata.name for p in (await c.list(Pod, namespace="default")).items}
            assert names == {"kept", "after-restart"}
        finally:
            await w.close()


async def test_many_watchers_each_get_every_event(control_plane: ControlPlane) -> None:
    c = control_plane.client
    before = control_plane.apiserver.service.watcher_count()
    clients = [ApiClient.connect(control_plane.server) for _ in range(3)]
    watchers = [Collector(cl.watch(Pod, namespace="default")) for cl in clients for _ in range(10)]
    try:
        await registered(control_plane, before + len(watchers))
        for i in range(5):
            await c.create(make_pod(f"fan-{i}"))
        for w in watchers:
            assert [n for _, n in await w.wait_for(5)] == [f"fan-{i}" for i in range(5)]
    finally:
        for w in watchers:
            await w.close()
        for cl in clients:
            await cl.close()
    deadline = asyncio.get_running_loop().time() + 10
    while control_plane.apiserver.service.watcher_count() > before:  # (the apiserver watches its CRDs itself)
        assert asyncio.get_running_loop().time() < deadline, "closed watches were not cleaned up"
        await asyncio.sleep(0.02)

"""Reading CRI logs back for the Kubelet Logs service: tail, timestamps, previous, follow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubelet import layout
from kubelet.crilog import format_entry
from kubelet.server import resolve_log, stream_log
from kubelite.api.errors import BadRequest, NotFound
from kubelite.pb.kubelite import api_pb2


def write(path: Path, *lines: tuple[str, bytes, bool]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        for stream, content, partial in lines:
            f.write(format_entry(stream, content, partial, ns=1_700_000_000_123_456_789))


async def never(_: Path) -> bool:
    return False


async def collect(path: Path, tail: int | None = None, timestamps: bool = False) -> bytes:
    return b"".join([c async for c in stream_log(path, tail, timestamps, False, never)])


async def test_render_tail_and_timestamps(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    write(log, ("stdout", b"one", False), ("stderr", b"two", False), ("stdout", b"thr", True), ("stdout", b"ee", False))
    assert await collect(log) == b"one\ntwo\nthree\n"
    assert await collect(log, tail=1) == b"ee\n"
    assert await collect(log, tail=2) == b"three\n"  # tail counts CRI entries, like the kubelet
    assert await collect(log, tail=0) == b""
    assert await collect(log, tail=100) == b"one\ntwo\nthree\n"
    assert (await collect(log, tail=1, timestamps=True)) == b"2023-11-14T22:13:20.123456789Z ee\n"


async def test_follow_stops_when_container_ends(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    write(log, ("stdout", b"first", False))
    running = True

    async def active(_: Path) -> bool:
        return running

    got: list[bytes] = []

    async def reader() -> None:
        async for chunk in stream_log(log, None, False, True, active):
            got.append(chunk)

    task = asyncio.create_task(reader())
    deadline = asyncio.get_running_loop().time() + 5
    while b"".join(got) != b"first\n":
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    write(log, ("stdout", b"second", False))
    running = False
    await asyncio.wait_for(task, 5)
    assert b"".join(got) == b"first\nsecond\n"


def test_resolve_current_previous_and_errors(tmp_path: Path) -> None:
    pod_dir = layout.pod_log_dir(tmp_path, "default", "web", "uid-1")
    for attempt in (0, 1):
        write(pod_dir / "main" / f"{attempt}.log", ("stdout", b"x", False))

    def req(**kw: object) -> api_pb2.LogsRequest:
        return api_pb2.LogsRequest(namespace="default", name="web", **kw)  # type: ignore[arg-type]

    assert resolve_log(tmp_path, req()) == pod_dir / "main" / "1.log"
    assert resolve_log(tmp_path, req(pod_uid="uid-1", previous=True)) == pod_dir / "main" / "0.log"
    with pytest.raises(NotFound):
        resolve_log(tmp_path, req(pod_uid="other"))
    with pytest.raises(BadRequest, match="not valid"):
        resolve_log(tmp_path, req(container="nope"))
    write(pod_dir / "side" / "0.log", ("stdout", b"x", False))
    with pytest.raises(BadRequest, match="choose one of: \\[main side\\]"):
        resolve_log(tmp_path, req())
    with pytest.raises(BadRequest, match="previous terminated container"):
        resolve_log(tmp_path, req(container="side", previous=True))


async def test_since_and_limit_bytes(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        for second, text in ((1, b"old"), (5, b"mid"), (9, b"new")):
            f.write(format_entry("stdout", text, False, ns=1_700_000_000_000_000_000 + second * 1_000_000_000))
        # conmon writes local offsets: 1_700_000_010 s is 2023-11-14T22:13:30Z
        f.write(b"2023-11-14T23:13:30.000000000+01:00 stdout F offset\n")

    async def read(since: int = 0, limit: int = 0) -> bytes:
        return b"".join([c async for c in stream_log(log, None, False, False, never, since, limit)])

    assert await read() == b"old\nmid\nnew\noffset\n"
    assert await read(since=1_700_000_005_000_000_000) == b"mid\nnew\noffset\n"
    assert await read(since=1_700_000_009_500_000_000) == b"offset\n"
    assert await read(limit=6) == b"old\nmi"
    assert await read(since=1_700_000_005_000_000_000, limit=5) == b"mid\nn"


def test_since_time_is_validated() -> None:
    from kubelet.server import since_ns

    assert since_ns(api_pb2.LogsRequest()) == 0
    assert since_ns(api_pb2.LogsRequest(since_time="2023-11-14T22:13:25Z")) == 1_700_000_005_000_000_000
    with pytest.raises(BadRequest, match="sinceTime"):
        since_ns(api_pb2.LogsRequest(since_time="yesterday"))

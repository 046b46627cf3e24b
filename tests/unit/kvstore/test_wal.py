"""WAL: durability format, torn-tail repair, corruption refusal, rotation/purge, group commit."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from kvstore.wal import Batch, Entry, GroupCommitter, Wal, WalCorruptError, encode


def write_entries(directory: Path, n: int, start: int = 1, size: int = 40) -> list[Entry]:
    wal, existing = Wal.open(directory, 0)
    entries = [Entry(i, 1, bytes([i % 251]) * size) for i in range(start, start + n)]
    for e in entries:
        wal.write(encode(e))
    wal.close()
    return entries


def segment(directory: Path) -> Path:
    (path,) = sorted(directory.glob("*.wal"))[-1:]
    return path


def test_roundtrip(tmp_path: Path) -> None:
    entries = write_entries(tmp_path, 20)
    _wal, got = Wal.open(tmp_path, 0)
    assert got == entries
    _wal.close()
    _wal, after = Wal.open(tmp_path, 15)
    assert [e.index for e in after] == [16, 17, 18, 19, 20]
    _wal.close()


@pytest.mark.parametrize("cut", [1, 5, 11, 13, 30])
def test_torn_tail_is_truncated_and_acknowledged_prefix_survives(tmp_path: Path, cut: int) -> None:
    entries = write_entries(tmp_path, 10)
    path = segment(tmp_path)
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size - cut)  # the crash cut the last record short
    wal, got = Wal.open(tmp_path, 0)
    assert got == entries[:-1]
    # The repaired log takes new writes after the surviving prefix.
    wal.write(encode(Entry(10, 1, b"again")))
    wal.close()
    _wal, got = Wal.open(tmp_path, 0)
    assert got[-1] == Entry(10, 1, b"again") and len(got) == 10
    _wal.close()


def test_torn_tail_with_garbage_and_zero_fill(tmp_path: Path) -> None:
    entries = write_entries(tmp_path, 5)
    path = segment(tmp_path)
    partial = encode(Entry(6, 1, b"x" * 100))
    with path.open("ab") as fh:  # header made it, half the payload did, then zeros
        fh.write(partial[:60] + b"\0" * 4096)
    _wal, got = Wal.open(tmp_path, 0)
    assert got == entries
    assert path.stat().st_size == sum(len(encode(e)) for e in entries)
    _wal.close()


def test_corruption_in_the_middle_is_refused(tmp_path: Path) -> None:
    write_entries(tmp_path, 10)
    path = segment(tmp_path)
    data = bytearray(path.read_bytes())
    rec = len(encode(Entry(1, 1, b"\0" * 40)))
    data[rec * 3 + 20] ^= 0xFF  # flip a payload byte of entry 4
    path.write_bytes(bytes(data))
    with pytest.raises(WalCorruptError, match="corrupt at byte"):
        Wal.open(tmp_path, 0)
    data[rec * 3 + 20] ^= 0xFF
    data[rec * 3 + 2] ^= 0x10  # now damage the length field instead
    path.write_bytes(bytes(data))
    with pytest.raises(WalCorruptError):
        Wal.open(tmp_path, 0)


def test_rotation_purge_and_gap_detection(tmp_path: Path) -> None:
    wal, _ = Wal.open(tmp_path, 0)
    for i in range(1, 6):
        wal.write(encode(Entry(i, 1, b"a")))
    wal.rotate(6)
    for i in range(6, 11):
        wal.write(encode(Entry(i, 1, b"b")))
    assert len(list(tmp_path.glob("*.wal"))) == 2
    assert wal.purge(4) == 0  # entry 5 is not covered yet
    assert wal.purge(5) == 1
    wal.close()
    _wal, got = Wal.open(tmp_path, 5)
    assert [e.index for e in got] == list(range(6, 11))
    _wal.close()
    with pytest.raises(WalCorruptError, match="gap"):
        Wal.open(tmp_path, 2)  # entries 3..5 are gone: the snapshot would not cover them


def test_later_record_replaces_log_suffix(tmp_path: Path) -> None:
    wal, _ = Wal.open(tmp_path, 0)
    for e in [Entry(1, 1, b"a"), Entry(2, 1, b"b"), Entry(3, 1, b"c"), Entry(2, 2, b"B")]:
        wal.write(encode(e))
    wal.close()
    _wal, got = Wal.open(tmp_path, 0)
    assert got == [Entry(1, 1, b"a"), Entry(2, 2, b"B")]
    _wal.close()


async def test_group_commit_batches_and_orders(tmp_path: Path) -> None:
    wal, _ = Wal.open(tmp_path, 0)
    applied: list[int] = []

    def on_durable(batch: Batch) -> None:
        for entry, fut in batch:
            applied.append(entry.index)
            fut.set_result(entry.index)

    committer = GroupCommitter(wal, on_durable)
    committer.start()
    futs = [committer.submit(Entry(i, 1, b"x" * 10)) for i in range(1, 201)]
    assert await asyncio.gather(*futs) == list(range(1, 201))
    assert applied == list(range(1, 201))
    assert committer.batches < 200  # concurrent submissions shared fsyncs
    await committer.close()
    wal.close()
    _wal, got = Wal.open(tmp_path, 0)
    assert [e.index for e in got] == list(range(1, 201))
    _wal.close()


async def test_disk_failure_fails_every_waiter(tmp_path: Path) -> None:
    wal, _ = Wal.open(tmp_path, 0)
    committer = GroupCommitter(wal, lambda batch: None)
    os.close(wal._fd)  # simulate the disk going away
    wal._fd = os.open(os.devnull, os.O_RDONLY)
    committer.start()
    fut = committer.submit(Entry(1, 1, b"x"))
    with pytest.raises(OSError):
        await fut
    assert committer.failure is not None
    with pytest.raises(OSError):
        await committer.submit(Entry(2, 1, b"y"))
    await committer.close()
    wal.close()

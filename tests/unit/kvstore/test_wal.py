"""WAL: durability format, torn-tail repair, corruption refusal, rotation/purge, hard state + snapshot marks."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvstore.raft import Entry as RaftEntry
from kvstore.raft import EntryType, HardState
from kvstore.wal import Wal, WalCorruptError, encode


def Entry(index: int, term: int, data: bytes) -> RaftEntry:  # noqa: N802 - reads like the old record
    return RaftEntry(term, index, EntryType.NORMAL, data)


def write_entries(directory: Path, n: int, start: int = 1, size: int = 40) -> list[RaftEntry]:
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
    _wal, (got, _, _) = Wal.open(tmp_path, 0)
    assert got == entries
    _wal.close()
    _wal, (after, _, _) = Wal.open(tmp_path, 15)
    assert [e.index for e in after] == [16, 17, 18, 19, 20]
    _wal.close()


@pytest.mark.parametrize("cut", [1, 5, 11, 13, 30])
def test_torn_tail_is_truncated_and_acknowledged_prefix_survives(tmp_path: Path, cut: int) -> None:
    entries = write_entries(tmp_path, 10)
    path = segment(tmp_path)
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size - cut)  # the crash cut the last record short
    wal, (got, _, _) = Wal.open(tmp_path, 0)
    assert got == entries[:-1]
    # The repaired log takes new writes after the surviving prefix.
    wal.write(encode(Entry(10, 1, b"again")))
    wal.close()
    _wal, (got, _, _) = Wal.open(tmp_path, 0)
    assert got[-1] == Entry(10, 1, b"again") and len(got) == 10
    _wal.close()


def test_torn_tail_with_garbage_and_zero_fill(tmp_path: Path) -> None:
    entries = write_entries(tmp_path, 5)
    path = segment(tmp_path)
    partial = encode(Entry(6, 1, b"x" * 100))
    with path.open("ab") as fh:  # header made it, half the payload did, then zeros
        fh.write(partial[:60] + b"\0" * 4096)
    _wal, (got, _, _) = Wal.open(tmp_path, 0)
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
    hs = HardState(1, 0, 5)
    wal.save(None, [Entry(i, 1, b"a") for i in range(1, 6)], True)
    wal.rotate(hs)  # the next segment is named after index 6 and starts with the hard state
    wal.save(HardState(1, 0, 10), [Entry(i, 1, b"b") for i in range(6, 11)], True)
    assert len(list(tmp_path.glob("*.wal"))) == 2
    assert wal.purge(4) == 0  # entry 5 is not covered yet
    assert wal.purge(5) == 1
    wal.close()
    _wal, (got, got_hs, _) = Wal.open(tmp_path, 5)
    assert [e.index for e in got] == list(range(6, 11))
    assert got_hs == HardState(1, 0, 10)
    _wal.close()
    with pytest.raises(WalCorruptError, match="gap"):
        Wal.open(tmp_path, 2)  # entries 3..5 are gone: the snapshot would not cover them


def test_hard_state_conf_entries_and_snapshot_mark(tmp_path: Path) -> None:
    wal, _ = Wal.open(tmp_path, 0)
    conf = RaftEntry(1, 1, EntryType.CONF_CHANGE, b"cc")
    wal.save(HardState(1, 7, 1), [conf, Entry(2, 1, b"x"), Entry(3, 1, b"stale")], True)
    wal.mark_snapshot(100, 4, HardState(4, 7, 100))  # a leader's snapshot replaced the whole log
    wal.save(HardState(4, 7, 101), [Entry(101, 4, b"new")], True)
    wal.close()
    _wal, replay = Wal.open(tmp_path, 100)
    assert replay.entries == [Entry(101, 4, b"new")]
    assert replay.hard_state == HardState(4, 7, 101)
    assert replay.snapshot == (100, 4)
    _wal.close()
    with pytest.raises(WalCorruptError, match="gap"):
        Wal.open(tmp_path, 0)  # without the snapshot at 100 the log has a hole


def test_later_record_replaces_log_suffix(tmp_path: Path) -> None:
    wal, _ = Wal.open(tmp_path, 0)
    for e in [Entry(1, 1, b"a"), Entry(2, 1, b"b"), Entry(3, 1, b"c"), Entry(2, 2, b"B")]:
        wal.write(encode(e))
    wal.close()
    _wal, (got, _, _) = Wal.open(tmp_path, 0)
    assert got == [Entry(1, 1, b"a"), Entry(2, 2, b"B")]
    _wal.close()

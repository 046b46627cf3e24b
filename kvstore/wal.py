"""Write-ahead log: the durable, ordered record of Raft's log and hard state.

Why: a member may only answer a vote, acknowledge an append or report a write
as committed once the entry (and term/vote/commit) is on disk (fdatasync), so a
crash (SIGKILL, power loss) loses nothing a peer or client was told; the MVCC
state is rebuilt by loading the newest snapshot and re-applying the committed
entries after it.

Layout: `<dir>/<seq:016x>-<first_index:016x>.wal` segments, each a sequence of
records::

    u32 length | u32 crc32(payload) | u32 crc32(first 8 header bytes) | payload
    payload = u8 type | u64 index | u64 term | data

Types: ENTRY (normal log entry), CONF_ENTRY (membership change entry),
HARD_STATE (index = commit, term = term, data = u64 vote) and SNAPSHOT (a
snapshot at (index, term) was installed: the log before it is discarded).

The header CRC lets recovery tell a record cut short by a crash (a torn tail,
which is truncated: it was never acknowledged) from damage to acknowledged data
(refused with `WalCorruptError`, the daemon exits non-zero instead of silently
serving a store with holes). An entry whose index is <= the previous one
replaces the log from that index on (Raft's log truncation).

A segment's name holds the index the log will continue at when it was created
(last written index + 1), so every entry of an older segment is below the next
segment's first index; `purge` relies on that to drop segments a snapshot covers.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

from kvstore.raft.types import Entry, EntryType, HardState

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<III")
_PAYLOAD_HEAD = struct.Struct("<BQQ")
_VOTE = struct.Struct("<Q")
ENTRY = 1
CONF_ENTRY = 2
HARD_STATE = 3
SNAPSHOT = 4
_MAX_RECORD = 64 * 1024 * 1024
MAX_BATCH_BYTES = 8 * 1024 * 1024


class WalCorruptError(Exception):
    """Acknowledged log data is damaged: refuse to start rather than lose writes silently."""


def _record(kind: int, index: int, term: int, data: bytes) -> bytes:
    payload = _PAYLOAD_HEAD.pack(kind, index, term) + data
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def encode(entry: Entry) -> bytes:
    kind = CONF_ENTRY if entry.type == EntryType.CONF_CHANGE else ENTRY
    return _record(kind, entry.index, entry.term, entry.data)


def encode_hard_state(hs: HardState) -> bytes:
    return _record(HARD_STATE, hs.commit, hs.term, _VOTE.pack(hs.vote))


def encode_snapshot(index: int, term: int) -> bytes:
    return _record(SNAPSHOT, index, term, b"")


class Replay(NamedTuple):
    """What recovery found: entries after the loaded snapshot, the last hard state, the last snapshot mark."""

    entries: list[Entry]
    hard_state: HardState | None
    snapshot: tuple[int, int] | None


def fsync_dir(path: Path) -> None:
    """Make a create/rename/unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _segment_name(seq: int, first_index: int) -> str:
    return f"{seq:016x}-{first_index:016x}.wal"


def _parse_name(name: str) -> tuple[int, int] | None:
    stem, dot, ext = name.partition(".")
    seq, dash, first = stem.partition("-")
    if ext != "wal" or not dot or not dash:
        return None
    try:
        return int(seq, 16), int(first, 16)
    except ValueError:
        return None


def _record_at(data: bytes, off: int) -> tuple[str, int]:
    """Check the record at `off`: ("", its length incl. header) or (problem, known length or 0)."""
    size = len(data)
    if size - off < _HEADER.size:
        return "truncated record header", 0
    length, crc, hcrc = _HEADER.unpack_from(data, off)
    if zlib.crc32(data[off:off + 8]) != hcrc:
        return "bad record header checksum", 0
    if length < _PAYLOAD_HEAD.size or length > _MAX_RECORD:
        return f"bad record length {length}", 0
    total = _HEADER.size + length
    if off + total > size:
        return "truncated record", 0
    if zlib.crc32(data[off + _HEADER.size: off + total]) != crc:
        return "bad record checksum", total
    return "", total


def _valid_record_after(data: bytes, start: int) -> bool:
    """Does any intact record begin at or after `start`? (error path only)"""
    for pos in range(start, len(data) - _HEADER.size + 1):
        if data[pos + 3] == 0 and not _record_at(data, pos)[0]:
            return True
    return False


_Rec = tuple[int, int, int, bytes]  # kind, index, term, data


def _scan(path: Path, data: bytes, is_last: bool) -> tuple[list[_Rec], int]:
    """Parse a segment; return its records and the length of its valid prefix.

    A bad record is a torn tail (a crash during the last, never acknowledged
    write) only in the last segment, only within one batch of the end, and only
    if no intact record follows it; anything else is corruption.
    """
    records: list[_Rec] = []
    off, size = 0, len(data)
    head, phead = _HEADER.size, _PAYLOAD_HEAD.size
    while off < size:
        problem, total = _record_at(data, off)
        if not problem:
            kind, index, term = _PAYLOAD_HEAD.unpack_from(data, off + head)
            records.append((kind, index, term, data[off + head + phead: off + total]))
            off += total
            continue
        near_end = size - off <= MAX_BATCH_BYTES + _MAX_RECORD
        torn = problem.startswith("truncated") or (
            near_end and not _valid_record_after(data, off + total if total else off + 1)
        )
        if is_last and torn:
            log.warning("truncating torn WAL tail", extra={"file": str(path), "offset": off, "reason": problem})
            return records, off
        raise WalCorruptError(
            f"WAL segment {path} is corrupt at byte {off} ({problem}) and intact records follow it; "
            "refusing to start because acknowledged writes would be lost"
        )
    return records, off


class Wal:
    """Segmented append-only log on disk. Blocking I/O: call write/rotate from a thread."""

    def __init__(self, directory: Path, seq: int, fd: int, size: int, path: Path) -> None:
        self.dir = directory
        self._seq = seq
        self._fd = fd
        self.path = path
        """The segment being appended to."""
        self.segment_bytes = size
        self.synced_bytes = size
        """Length of the segment's prefix the last successful fsync made durable."""
        self.last_index = 0
        """Index of the last entry written (the next segment is named after it)."""
        self.failed = ""
        """What failed ("write", "fsync"; "" while healthy): the descriptor is never used again
        (see `abandon`)."""

    @classmethod
    def open(cls, directory: Path, after_index: int) -> tuple[Wal, Replay]:
        """Open (or create) the log; return it and what it holds after `after_index`.

        `after_index` is the index of the snapshot the caller loaded. Repairs a
        torn tail in place; raises WalCorruptError for damage elsewhere or for a
        hole between that snapshot and the first retained entry.
        """
        directory.mkdir(parents=True, exist_ok=True)
        for tmp in directory.glob("*.tmp"):
            tmp.unlink()
        segments = sorted((n, p) for p in directory.iterdir() if (n := _parse_name(p.name)) is not None)
        entries: list[Entry] = []
        hard_state: HardState | None = None
        snap: tuple[int, int] | None = None
        last: int | None = None  # index of the log's last entry so far (None: not known yet)
        for i, ((_seq, _first), path) in enumerate(segments):
            data = path.read_bytes()
            found, valid = _scan(path, data, i == len(segments) - 1)
            if valid < len(data):
                with path.open("r+b") as fh:
                    fh.truncate(valid)
                    os.fsync(fh.fileno())
            for kind, index, term, body in found:
                if kind == HARD_STATE:
                    hard_state = HardState(term, _VOTE.unpack(body)[0] if len(body) == 8 else 0, index)
                elif kind == SNAPSHOT:
                    snap = (index, term)
                    entries.clear()
                    last = index
                elif kind in (ENTRY, CONF_ENTRY):
                    if last is not None and index > last + 1:
                        raise WalCorruptError(
                            f"WAL gap in {path}: entry {index} follows {last}; acknowledged entries missing"
                        )
                    while entries and entries[-1].index >= index:
                        entries.pop()  # overwritten by a later record (log truncation)
                    etype = EntryType.CONF_CHANGE if kind == CONF_ENTRY else EntryType.NORMAL
                    entries.append(Entry(term, index, etype, body))
                    last = index
        kept = [e for e in entries if e.index > after_index]
        if kept and kept[0].index != after_index + 1:
            raise WalCorruptError(
                f"WAL gap: the log resumes at entry {kept[0].index} but the snapshot ends at {after_index}; "
                "acknowledged entries missing"
            )
        if segments:
            (seq, _first), path = segments[-1]
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            wal = cls(directory, seq, fd, os.fstat(fd).st_size, path)
        else:
            wal = cls._create(directory, 0, after_index + 1)
        wal.last_index = max(last or 0, after_index)
        return wal, Replay(kept, hard_state, snap)

    @classmethod
    def _create(cls, directory: Path, seq: int, first_index: int) -> Wal:
        path = directory / _segment_name(seq, first_index)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        os.fsync(fd)
        fsync_dir(directory)
        return cls(directory, seq, fd, 0, path)

    def write(self, blob: bytes, sync: bool = True) -> None:
        """Append encoded records; with `sync`, make them durable before returning.

        Any failure (ENOSPC mid-record, EIO from fdatasync) marks the log failed:
        what was written since the last good sync may be torn or lost, so the
        caller must `abandon` it instead of writing on (or fsyncing again).
        """
        if self.failed:
            raise OSError(errno.EIO, f"WAL unusable after an earlier {self.failed} failure")
        view = memoryview(blob)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self.segment_bytes += len(blob)
        except OSError:
            self.failed = "write"
            raise
        if sync:
            try:
                os.fdatasync(self._fd)
            except OSError:
                self.failed = "fsync"
                raise
            self.synced_bytes = self.segment_bytes

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool) -> None:
        """Persist one Ready's entries and hard state with one write (+ one fdatasync)."""
        parts = [encode(e) for e in entries]
        if hard_state is not None:
            parts.append(encode_hard_state(hard_state))
        if parts:
            self.write(b"".join(parts), sync)
        if entries:
            self.last_index = entries[-1].index

    def mark_snapshot(self, index: int, term: int, hard_state: HardState) -> None:
        """Record that the log now starts after a snapshot at (index, term). Durable on return."""
        self.write(encode_snapshot(index, term) + encode_hard_state(hard_state))
        self.last_index = index

    def rotate(self, hard_state: HardState) -> None:
        """Continue in a fresh segment (named after the next index), starting with the hard state."""
        try:
            new = Wal._create(self.dir, self._seq + 1, self.last_index + 1)
        except OSError:
            self.failed = "write"
            raise
        os.close(self._fd)
        self._fd, self._seq, self.path = new._fd, new._seq, new.path
        self.segment_bytes = self.synced_bytes = 0
        self.write(encode_hard_state(hard_state))

    def abandon(self) -> None:
        """After a failed write or fsync: close the descriptor without syncing it again and
        cut the segment back to what the last successful fsync made durable (through a
        fresh descriptor), so a torn or never-durable tail can never be read back as data."""
        self.failed = self.failed or "write"
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        fd = os.open(self.path, os.O_WRONLY)
        try:
            if os.fstat(fd).st_size > self.synced_bytes:
                os.ftruncate(fd, self.synced_bytes)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.dir)

    def purge(self, upto_index: int) -> int:
        """Delete segments holding only entries <= upto_index (covered by a snapshot)."""
        segments = sorted((n, p) for p in self.dir.iterdir() if (n := _parse_name(p.name)) is not None)
        removed = 0
        for ((seq, _first), path), ((_nseq, next_first), _) in zip(segments, segments[1:], strict=False):
            if seq < self._seq and next_first <= upto_index + 1:
                path.unlink()
                removed += 1
        if removed:
            fsync_dir(self.dir)
        return removed

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.iterdir() if _parse_name(p.name) is not None)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

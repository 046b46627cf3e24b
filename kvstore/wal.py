"""Write-ahead log: the durable, ordered record of every state change.

Why: a write is acknowledged only once its entry is on disk (fdatasync), so a
crash (SIGKILL, power loss) can lose nothing that a client was told succeeded;
the MVCC state is rebuilt by loading the newest snapshot and re-applying the
entries after it.

Layout: `<dir>/<seq:016x>-<first_index:016x>.wal` segments, each a sequence of
records::

    u32 length | u32 crc32(payload) | u32 crc32(first 8 header bytes) | payload
    payload = u8 type | u64 index | u64 term | data

The header CRC lets recovery tell a record cut short by a crash (a torn tail,
which is truncated: it was never acknowledged) from damage to acknowledged data
(refused with `WalCorruptError`, the daemon exits non-zero instead of silently
serving a store with holes). An entry whose index is <= the previous one
replaces the log from that index on (what Raft's log truncation needs).

Group commit: `GroupCommitter` gathers the entries proposed while the previous
fdatasync was running and writes them with one write + one fdatasync, so many
concurrent requests share the cost of a disk flush.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<III")
_PAYLOAD_HEAD = struct.Struct("<BQQ")
ENTRY = 1
_MAX_RECORD = 16 * 1024 * 1024
MAX_BATCH_BYTES = 8 * 1024 * 1024


class WalCorruptError(Exception):
    """Acknowledged log data is damaged: refuse to start rather than lose writes silently."""


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    term: int
    data: bytes


def encode(entry: Entry) -> bytes:
    payload = _PAYLOAD_HEAD.pack(ENTRY, entry.index, entry.term) + entry.data
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


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


def _scan(path: Path, data: bytes, is_last: bool) -> tuple[list[Entry], int]:
    """Parse a segment; return its entries and the length of its valid prefix.

    A bad record is a torn tail (a crash during the last, never acknowledged
    write) only in the last segment, only within one batch of the end, and only
    if no intact record follows it; anything else is corruption.
    """
    entries: list[Entry] = []
    off, size = 0, len(data)
    while off < size:
        problem, total = _record_at(data, off)
        if not problem:
            kind, index, term = _PAYLOAD_HEAD.unpack_from(data, off + _HEADER.size)
            if kind == ENTRY:
                entries.append(Entry(index, term, data[off + _HEADER.size + _PAYLOAD_HEAD.size: off + total]))
            off += total
            continue
        near_end = size - off <= MAX_BATCH_BYTES + _MAX_RECORD
        torn = problem.startswith("truncated") or (
            near_end and not _valid_record_after(data, off + total if total else off + 1)
        )
        if is_last and torn:
            log.warning("truncating torn WAL tail", extra={"file": str(path), "offset": off, "reason": problem})
            return entries, off
        raise WalCorruptError(
            f"WAL segment {path} is corrupt at byte {off} ({problem}) and intact records follow it; "
            "refusing to start because acknowledged writes would be lost"
        )
    return entries, off


class Wal:
    """Segmented append-only log on disk. Blocking I/O: call write/rotate from a thread."""

    def __init__(self, directory: Path, seq: int, fd: int, size: int) -> None:
        self.dir = directory
        self._seq = seq
        self._fd = fd
        self.segment_bytes = size

    @classmethod
    def open(cls, directory: Path, after_index: int) -> tuple[Wal, list[Entry]]:
        """Open (or create) the log; return it and the entries with index > after_index.

        Repairs a torn tail in place; raises WalCorruptError for damage elsewhere or
        for a gap between the snapshot and the first retained entry.
        """
        directory.mkdir(parents=True, exist_ok=True)
        for tmp in directory.glob("*.tmp"):
            tmp.unlink()
        segments = sorted((p, n) for p in directory.iterdir() if (n := _parse_name(p.name)) is not None)
        segments.sort(key=lambda item: item[1][0])
        entries: list[Entry] = []
        last_index = after_index
        have_first = False
        for i, (path, (_seq, first)) in enumerate(segments):
            is_last = i == len(segments) - 1
            data = path.read_bytes()
            found, valid = _scan(path, data, is_last)
            if valid < len(data):
                with path.open("r+b") as fh:
                    fh.truncate(valid)
                    os.fsync(fh.fileno())
            if found and found[0].index != first:
                raise WalCorruptError(f"WAL segment {path} starts at index {found[0].index}, name says {first}")
            for entry in found:
                if entry.index > last_index + 1 and (have_first or entry.index > after_index + 1):
                    raise WalCorruptError(
                        f"WAL gap in {path}: entry {entry.index} follows {last_index}; acknowledged entries missing"
                    )
                have_first = True
                if entry.index <= after_index:
                    last_index = max(last_index, entry.index)
                    continue
                while entries and entries[-1].index >= entry.index:
                    entries.pop()  # overwritten by a later record (log truncation)
                entries.append(entry)
                last_index = entry.index
        if segments:
            path, (seq, _first) = segments[-1]
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            wal = cls(directory, seq, fd, os.fstat(fd).st_size)
        else:
            wal = cls._create(directory, 0, after_index + 1)
        return wal, entries

    @classmethod
    def _create(cls, directory: Path, seq: int, first_index: int) -> Wal:
        path = directory / _segment_name(seq, first_index)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        os.fsync(fd)
        fsync_dir(directory)
        return cls(directory, seq, fd, 0)

    def write(self, blob: bytes) -> None:
        """Append encoded records and make them durable before returning."""
        view = memoryview(blob)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fdatasync(self._fd)
        self.segment_bytes += len(blob)

    def rotate(self, next_index: int) -> None:
        """Continue in a fresh segment whose first entry will be `next_index`."""
        new = Wal._create(self.dir, self._seq + 1, next_index)
        os.close(self._fd)
        self._fd, self._seq, self.segment_bytes = new._fd, new._seq, 0

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


Batch = list[tuple[Entry, "asyncio.Future[object]"]]


class GroupCommitter:
    """Batches concurrently proposed entries into one write + fdatasync.

    `on_durable(batch)` runs on the event loop right after each batch is durable,
    in log order, and must resolve the batch's futures (it applies the entries).
    `after_batch()` may then do housekeeping (snapshots) before the next batch.
    If the disk fails, every waiting and later future fails: nothing more is
    acknowledged, because the log's tail is unknown.
    """

    def __init__(
        self,
        wal: Wal,
        on_durable: Callable[[Batch], None],
        after_batch: Callable[[], Awaitable[None]] | None = None,
        max_batch_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self.wal = wal
        self._on_durable = on_durable
        self._after_batch = after_batch
        self._max_batch_bytes = max_batch_bytes
        self._pending: Batch = []
        self._wake = asyncio.Event()
        self._closing = False
        self.failure: BaseException | None = None
        self.batches = 0
        self.entries = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wal-group-commit")

    def submit(self, entry: Entry) -> asyncio.Future[object]:
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.failure is not None or self._closing:
            fut.set_exception(self.failure or RuntimeError("WAL is closed"))
            return fut
        self._pending.append((entry, fut))
        self._wake.set()
        return fut

    def _take(self) -> tuple[Batch, bytes]:
        size, n = 0, 0
        parts: list[bytes] = []
        for entry, _fut in self._pending:
            if n and size + len(entry.data) > self._max_batch_bytes:
                break
            rec = encode(entry)
            parts.append(rec)
            size += len(rec)
            n += 1
        batch, self._pending = self._pending[:n], self._pending[n:]
        return batch, b"".join(parts)

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, blob = self._take()
            try:
                await asyncio.to_thread(self.wal.write, blob)
            except OSError as exc:
                log.critical("WAL write failed; refusing further writes", extra={"error": repr(exc)})
                self.failure = exc
                for _entry, fut in batch + self._pending:
                    if not fut.done():
                        fut.set_exception(exc)
                self._pending = []
                return
            self.batches += 1
            self.entries += len(batch)
            self._on_durable(batch)
            if self._after_batch is not None:
                await self._after_batch()

    async def close(self) -> None:
        """Flush what is pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

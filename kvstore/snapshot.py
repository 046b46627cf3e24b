"""Snapshot files: the whole MVCC state at a log index, written atomically.

Why: without snapshots the WAL (and restart time) would grow forever. A
snapshot at index I lets the WAL segments holding only entries <= I be deleted.
It is written to a temp file, fsync'd, renamed into place and the directory
fsync'd, so after a crash there is either the complete new snapshot or none
(the previous snapshot plus the still-present WAL segments cover the state).

File: magic `KLSNAP1\\n` | u64 length | u32 crc32 | KVStoreSnapshot protobuf.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from kubelite.pb.etcd import internal_pb2
from kvstore.wal import WalCorruptError, fsync_dir

_MAGIC = b"KLSNAP1\n"
_HEAD = struct.Struct("<QI")


def _name(index: int) -> str:
    return f"{index:016x}.snap"


def save(directory: Path, snap: internal_pb2.KVStoreSnapshot) -> Path:
    """Write `snap` durably and atomically; remove older snapshots. Blocking."""
    return save_bytes(directory, snap.index, snap.SerializeToString())


def save_bytes(directory: Path, index: int, payload: bytes) -> Path:
    """Write a serialized KVStoreSnapshot at `index` (as received from a leader). Blocking."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / _name(index)
    tmp = final.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(_MAGIC + _HEAD.pack(len(payload), zlib.crc32(payload)) + payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(directory)
    for old in directory.glob("*.snap"):
        if old != final and old.name < final.name:
            old.unlink()
    return final


def load_latest(directory: Path) -> internal_pb2.KVStoreSnapshot | None:
    """The newest snapshot, or None. A damaged newest snapshot is refused (it was fsync'd)."""
    payload = load_latest_bytes(directory)
    return internal_pb2.KVStoreSnapshot.FromString(payload) if payload is not None else None


def load_latest_bytes(directory: Path) -> bytes | None:
    """The newest snapshot's serialized KVStoreSnapshot (checksum verified), or None."""
    if not directory.is_dir():
        return None
    for tmp in directory.glob("*.tmp"):
        tmp.unlink()
    files = sorted(directory.glob("*.snap"))
    if not files:
        return None
    path = files[-1]
    data = path.read_bytes()
    head = len(_MAGIC) + _HEAD.size
    if len(data) < head or not data.startswith(_MAGIC):
        raise WalCorruptError(f"snapshot {path} has a bad header; refusing to start")
    length, crc = _HEAD.unpack_from(data, len(_MAGIC))
    payload = data[head:head + length]
    if len(payload) != length or zlib.crc32(payload) != crc:
        raise WalCorruptError(f"snapshot {path} is corrupt (checksum mismatch); refusing to start")
    return payload


def disk_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.snap")) if directory.is_dir() else 0

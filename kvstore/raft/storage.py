"""MemoryStorage: the *stable* (already persisted) part of the log, as the core sees it.

Why a separate object: the core never writes to disk. The node layer persists each
Ready's entries/hard state/snapshot to its WAL and then mirrors them into this
storage (`append`, `set_hard_state`, `apply_snapshot`); the core only reads from
it. After a restart the node layer rebuilds a MemoryStorage from the WAL and the
core resumes from `initial_state()`.

Layout: `_ents[0]` is a dummy entry holding the (index, term) of the last
compacted entry (the snapshot point), so `term(first_index() - 1)` still works
and the log-matching check of the first retained entry needs no special case.
"""

from __future__ import annotations

from kvstore.raft.errors import Compacted, SnapshotOutOfDate, Unavailable
from kvstore.raft.types import (
    EMPTY_HARD_STATE,
    ConfState,
    Entry,
    HardState,
    Snapshot,
    SnapshotMeta,
)

ENTRY_OVERHEAD = 16
"""Bytes counted per entry on top of its data when limiting batch sizes."""


def entry_size(e: Entry) -> int:
    return len(e.data) + ENTRY_OVERHEAD


def limit_size(ents: list[Entry], max_bytes: int) -> list[Entry]:
    """The longest prefix of `ents` within `max_bytes` (always at least one entry)."""
    return take(ents, 0, len(ents), max_bytes)


def take(ents: list[Entry], start: int, end: int, max_bytes: int, at_least_one: bool = True) -> list[Entry]:
    """ents[start:end] cut to about max_bytes (0 = no limit), copying only what is returned:
    a lagging follower's backlog is never copied whole just to send one message."""
    if max_bytes <= 0:
        return ents[start:end]
    total = 0
    i = start
    while i < end:
        total += len(ents[i].data) + ENTRY_OVERHEAD
        if total > max_bytes and (i > start or not at_least_one):
            break
        i += 1
    return ents[start:i]


def size_of(ents: list[Entry]) -> int:
    return sum(len(e.data) for e in ents) + ENTRY_OVERHEAD * len(ents)


class MemoryStorage:
    """An in-memory, append-only-ish log with a snapshot at its head."""

    def __init__(self) -> None:
        self._hard_state = EMPTY_HARD_STATE
        self._snapshot = Snapshot(SnapshotMeta(0, 0, ConfState(())), b"")
        self._ents: list[Entry] = [Entry(0, 0)]

    # ----------------------------------------------------------------- reads (core)
    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._snapshot.meta.conf_state

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def term(self, i: int) -> int:
        """Term of entry i; raises Compacted below the snapshot point, Unavailable past the end."""
        offset = self._ents[0].index
        if i < offset:
            raise Compacted(f"index {i} compacted (first {offset + 1})")
        if i - offset >= len(self._ents):
            raise Unavailable(f"index {i} past last {self.last_index()}")
        return self._ents[i - offset].term

    def entries(self, lo: int, hi: int, max_bytes: int = 0) -> list[Entry]:
        """Entries [lo, hi) limited to about max_bytes (0 = no limit; at least one entry)."""
        offset = self._ents[0].index
        if lo <= offset:
            raise Compacted(f"index {lo} compacted (first {offset + 1})")
        if hi > self.last_index() + 1:
            raise Unavailable(f"hi {hi} past last {self.last_index()}")
        return take(self._ents, lo - offset, hi - offset, max_bytes)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def hard_state(self) -> HardState:
        return self._hard_state

    # ----------------------------------------------------------------- writes (node layer)
    def set_hard_state(self, hs: HardState) -> None:
        self._hard_state = hs

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the whole log by `snap` (a snapshot received from the leader)."""
        if snap.meta.index < self._snapshot.meta.index:
            raise SnapshotOutOfDate(f"snapshot {snap.meta.index} older than {self._snapshot.meta.index}")
        self._snapshot = snap
        self._ents = [Entry(snap.meta.term, snap.meta.index)]

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a snapshot of the app's state at `index` (<= last index); the log
        is kept until `compact` so slow followers can still catch up from it."""
        if index <= self._snapshot.meta.index:
            raise SnapshotOutOfDate(f"snapshot {index} not newer than {self._snapshot.meta.index}")
        if index > self.last_index():
            raise Unavailable(f"snapshot {index} past last {self.last_index()}")
        self._snapshot = Snapshot(SnapshotMeta(index, self.term(index), conf_state), data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Drop entries before `index` (index itself becomes the dummy head)."""
        offset = self._ents[0].index
        if index <= offset:
            raise Compacted(f"index {index} already compacted")
        if index > self.last_index():
            raise Unavailable(f"compact {index} past last {self.last_index()}")
        i = index - offset
        head = self._ents[i]
        self._ents = [Entry(head.term, head.index)] + self._ents[i + 1:]

    def append(self, entries: list[Entry]) -> None:
        """Append persisted entries, truncating any conflicting suffix first."""
        if not entries:
            return
        first = self.first_index()
        last = entries[-1].index
        if last < first:
            return  # entirely compacted already
        if first > entries[0].index:
            entries = entries[first - entries[0].index:]
        offset = entries[0].index - self._ents[0].index
        n = len(self._ents)
        if offset == n:
            self._ents.extend(entries)
        elif offset < n:
            del self._ents[offset:]
            self._ents.extend(entries)
        else:
            raise Unavailable(f"missing log entry: last {self.last_index()}, append at {entries[0].index}")

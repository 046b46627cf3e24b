"""One member's simulated disk: what survives a crash is exactly what was fsync'd.

Why a write-back model instead of "everything persisted": the Ready contract only promises
safety if hard state and entries are *synced* before messages go out (Ready.must_sync). A
member writes every Ready's data, but only fsyncs when the contract says it must (and
snapshots always, like etcd). A crash keeps a random prefix of the unsynced writes (the
page cache may have flushed some, in order) and loses the rest; a restart rebuilds a fresh
MemoryStorage from what is left.

A disk can also be armed with a `DiskFault` (scenarios with `disk_faults`): after a few more
writes it runs full (ENOSPC at a write) or its fsync fails (EIO), and from then on every write
and fsync raises `StorageFault` -- what `kvstore.logdisk.WalDisk` raises -- until space is freed.
"""

from __future__ import annotations

import errno
import os
import random
from dataclasses import dataclass, field

from kvstore.raft.storage import MemoryStorage
from kvstore.raft.types import EMPTY_HARD_STATE, ConfState, Entry, HardState, Snapshot, SnapshotMeta
from kvstore.storagefault import StorageFault

EMPTY_SNAP = Snapshot(SnapshotMeta(0, 0, ConfState(())), b"")


@dataclass
class DiskState:
    """The durable image: snapshot, log entries after it, hard state."""

    snapshot: Snapshot = EMPTY_SNAP
    entries: list[Entry] = field(default_factory=list)
    hard_state: HardState = EMPTY_HARD_STATE

    def last_index(self) -> int:
        return self.snapshot.meta.index + len(self.entries)

    def copy(self) -> DiskState:
        return DiskState(self.snapshot, list(self.entries), self.hard_state)

    def apply(self, write: _Write) -> None:
        kind, payload = write
        if kind == "hs":
            assert isinstance(payload, HardState)
            self.hard_state = payload
        elif kind == "ents":
            assert isinstance(payload, tuple)
            self._append(list(payload))
        elif kind == "snap":
            assert isinstance(payload, Snapshot)
            # A received snapshot replaces the log (MemoryStorage.apply_snapshot semantics).
            self.snapshot = payload
            self.entries = []
        elif kind == "local_snap":
            assert isinstance(payload, Snapshot)
            # A snapshot this member took of its own state: the log after it stays.
            self.snapshot = payload
            self.entries = [e for e in self.entries if e.index > payload.meta.index]

    def _append(self, ents: list[Entry]) -> None:
        if not ents:
            return
        first = ents[0].index
        if first <= self.snapshot.meta.index:
            ents = [e for e in ents if e.index > self.snapshot.meta.index]
            if not ents:
                return
            first = ents[0].index
        base = self.snapshot.meta.index + 1
        keep = first - base
        if keep > len(self.entries):
            raise AssertionError(f"disk: gap in log, have up to {base + len(self.entries) - 1}, append {first}")
        del self.entries[keep:]
        self.entries.extend(ents)

    def to_storage(self) -> MemoryStorage:
        st = MemoryStorage()
        if self.snapshot.meta.index or self.snapshot.meta.conf_state.voters:
            st.apply_snapshot(self.snapshot)
        st.set_hard_state(self.hard_state)
        if self.entries:
            st.append(list(self.entries))
        return st


_Write = tuple[str, object]


@dataclass
class DiskFault:
    """A disk about to fail: "full" strikes at the `countdown`-th write from now (ENOSPC), "fsync" at
    the `countdown`-th fsync (EIO); it stays failed until the harness frees it `down_for` steps later."""

    kind: str
    countdown: int
    down_for: int
    rng: random.Random
    """Draws what survives of the unsynced tail (the harness's own stream stays untouched)."""
    struck: bool = False


class Disk:
    """Synced image + ordered unsynced writes."""

    def __init__(self) -> None:
        self.synced = DiskState()
        self.pending: list[_Write] = []
        self.fsyncs = 0
        self.fault: DiskFault | None = None

    def _check(self, op: str) -> None:
        f = self.fault
        if f is None:
            return
        if not f.struck:
            if (f.kind == "fsync") == (op == "fsync"):
                f.countdown -= 1
            if f.countdown > 0:
                return
            f.struck = True
        code = errno.ENOSPC if f.kind == "full" else errno.EIO
        raise StorageFault(f"{op} (simulated)", OSError(code, os.strerror(code)))

    def write_hard_state(self, hs: HardState) -> None:
        self._check("write")
        self.pending.append(("hs", hs))

    def write_entries(self, ents: list[Entry]) -> None:
        self._check("write")
        self.pending.append(("ents", tuple(ents)))

    def write_snapshot(self, snap: Snapshot, local: bool) -> None:
        self._check("write")
        self.pending.append(("local_snap" if local else "snap", snap))

    def fsync(self) -> None:
        self._check("fsync")
        for w in self.pending:
            self.synced.apply(w)
        self.pending.clear()
        self.fsyncs += 1

    def crash(self, rng: random.Random) -> int:
        """Lose the unsynced tail (keep a random prefix); return how many writes were lost."""
        keep = rng.randint(0, len(self.pending)) if self.pending else 0
        for w in self.pending[:keep]:
            self.synced.apply(w)
        lost = len(self.pending) - keep
        self.pending.clear()
        return lost

"""The Raft log as the core sees it: the stable part (storage) + an unstable tail.

Why an unstable part: entries the core appended (as leader) or accepted (as
follower) are not durable until the app persists them from a Ready. They live
here until `stable_to`, so the core can keep working on them (replicating,
committing) while the app writes them out, and storage only ever holds what is
on disk. A snapshot received from the leader also waits here until persisted.

Performance: appends extend a list in place; slices copy only what is asked for.
"""

from __future__ import annotations

from kvstore.raft.errors import Compacted, RaftError, Unavailable
from kvstore.raft.storage import MemoryStorage, size_of, take
from kvstore.raft.types import Entry, Snapshot


class Unstable:
    """Entries [offset, offset+len) and/or a snapshot, not yet persisted."""

    __slots__ = ("snapshot", "entries", "offset")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset

    def maybe_first_index(self) -> int | None:
        return self.snapshot.meta.index + 1 if self.snapshot is not None else None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.meta.index
        return None

    def maybe_term(self, i: int) -> int | None:
        off = self.offset
        if i < off:
            snap = self.snapshot
            if snap is not None and snap.meta.index == i:
                return snap.meta.term
            return None
        k = i - off
        if k < len(self.entries):
            return self.entries[k].term
        return None

    def stable_to(self, i: int, t: int) -> None:
        """Entries up to i (of term t) are on disk now; drop them from the tail."""
        gt = self.maybe_term(i)
        if gt is None or gt != t or i < self.offset:
            return  # overwritten meanwhile by a newer leader's entries, or already stable
        k = i + 1 - self.offset
        if k >= len(self.entries):
            self.entries = []
        else:
            del self.entries[:k]
        self.offset = i + 1

    def stable_snap_to(self, i: int) -> None:
        if self.snapshot is not None and self.snapshot.meta.index == i:
            self.snapshot = None

    def restore(self, s: Snapshot) -> None:
        self.offset = s.meta.index + 1
        self.entries = []
        self.snapshot = s

    def truncate_and_append(self, ents: list[Entry]) -> None:
        after = ents[0].index
        n = self.offset + len(self.entries)
        if after == n:
            self.entries.extend(ents)
        elif after <= self.offset:
            # Replaces everything unstable (and shadows a stale stable suffix).
            self.offset = after
            self.entries = list(ents)
        else:
            del self.entries[after - self.offset:]
            self.entries.extend(ents)


class RaftLog:
    """Storage + unstable tail + the committed/applied cursors."""

    def __init__(self, storage: MemoryStorage, max_committed_size: int = 0) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        self.applied = first - 1
        self.applying = first - 1
        """Last index handed to the app in a Ready (>= applied): not handed out twice."""
        self.max_committed_size = max_committed_size

    # ----------------------------------------------------------------- indexes and terms
    def first_index(self) -> int:
        i = self.unstable.maybe_first_index()
        return i if i is not None else self.storage.first_index()

    def last_index(self) -> int:
        i = self.unstable.maybe_last_index()
        return i if i is not None else self.storage.last_index()

    def stable_last_index(self) -> int:
        """The last entry of our log that is on disk (the app persisted it and called `stable_to`):
        what a leader may count as its own copy toward the commit quorum."""
        un = self.unstable
        if un.snapshot is not None:
            return self.storage.last_index()
        return min(self.last_index(), un.offset - 1)

    def term(self, i: int) -> int:
        """Term of entry i: 0 past the end, raises Compacted below the first retained one."""
        t = self.unstable.maybe_term(i)
        if t is not None:
            return t
        if i < self.first_index() - 1:
            raise Compacted(f"index {i} compacted")
        if i > self.last_index():
            return 0
        try:
            return self.storage.term(i)
        except Unavailable:
            return 0

    def zero_term(self, i: int) -> int:
        try:
            return self.term(i)
        except Compacted:
            return 0

    def last_term(self) -> int:
        return self.zero_term(self.last_index())

    def match_term(self, i: int, t: int) -> bool:
        try:
            return self.term(i) == t
        except Compacted:
            return False

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Would a candidate with this last entry have a log at least as new as ours?"""
        lt = self.last_term()
        return term > lt or (term == lt and last_index >= self.last_index())

    # ----------------------------------------------------------------- appends
    def append(self, ents: list[Entry]) -> int:
        if not ents:
            return self.last_index()
        if ents[0].index - 1 < self.committed:
            raise RaftError(f"append at {ents[0].index} would overwrite committed {self.committed}")
        self.unstable.truncate_and_append(ents)
        return self.last_index()

    def find_conflict(self, ents: tuple[Entry, ...]) -> int:
        """Index of the first entry whose term differs from ours (or is new); 0 if none."""
        if not ents:
            return 0
        # Fast paths (the common cases of a steady stream): all new, or all present
        # (by the log matching property, a matching last entry implies a matching prefix).
        if ents[0].index > self.last_index():
            return ents[0].index
        last = ents[-1]
        if self.match_term(last.index, last.term):
            return 0
        for e in ents:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """Largest (i, term(i)) with i <= index and term(i) <= term: where a follower
        whose log ends at (index, term) can possibly agree with ours (fast back-off)."""
        while index > 0:
            try:
                t = self.term(index)
            except Compacted:
                return index, 0
            if t <= term:
                return index, t
            index -= 1
        return 0, 0

    def maybe_append(self, index: int, log_term: int, committed: int, ents: tuple[Entry, ...]) -> int | None:
        """Follower side of AppendEntries; returns the last new index or None on mismatch."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(ents)
        ci = self.find_conflict(ents)
        if ci:
            if ci <= self.committed:
                raise RaftError(f"entry {ci} conflicts with committed entry (committed {self.committed})")
            self.append(list(ents[ci - index - 1:]))
        self.commit_to(min(committed, last_new))
        return last_new

    # ----------------------------------------------------------------- commit/apply
    def commit_to(self, c: int) -> None:
        if c > self.committed:
            if c > self.last_index():
                raise RaftError(f"commit {c} out of range (last {self.last_index()})")
            self.committed = c

    def maybe_commit(self, max_index: int, term: int) -> bool:
        """Commit up to max_index only if that entry is of the current term (Raft §5.4.2)."""
        if max_index > self.committed and self.zero_term(max_index) == term:
            self.commit_to(max_index)
            return True
        return False

    def applied_to(self, i: int) -> None:
        if i > self.applied:
            self.applied = i
        if self.applying < i:
            self.applying = i

    def has_next_committed_ents(self) -> bool:
        if self.committed <= self.applying or self.unstable.snapshot is not None:
            return False
        return self.committed >= self.first_index()

    def next_committed_ents(self) -> list[Entry]:
        if self.unstable.snapshot is not None:
            return []  # the snapshot must be applied first
        lo = max(self.applying + 1, self.first_index())
        hi = self.committed + 1
        if lo >= hi:
            return []
        return self.slice(lo, hi, self.max_committed_size)

    # ----------------------------------------------------------------- reads
    def unstable_entries(self) -> list[Entry]:
        return list(self.unstable.entries)

    def entries(self, lo: int, max_size: int = 0) -> list[Entry]:
        last = self.last_index()
        if lo > last:
            return []
        return self.slice(lo, last + 1, max_size)

    def slice(self, lo: int, hi: int, max_size: int = 0) -> list[Entry]:
        """Entries [lo, hi) from storage and/or the unstable tail, limited to max_size bytes."""
        if lo < self.first_index():
            raise Compacted(f"index {lo} compacted")
        if hi > self.last_index() + 1:
            raise RaftError(f"slice [{lo},{hi}) out of bounds (last {self.last_index()})")
        if lo >= hi:
            return []
        uoff = self.unstable.offset
        if lo >= uoff:
            return take(self.unstable.entries, lo - uoff, hi - uoff, max_size)
        ents = self.storage.entries(lo, min(hi, uoff), max_size)
        if hi > uoff and len(ents) == uoff - lo:
            budget = max_size - size_of(ents) if max_size > 0 else 0
            if max_size <= 0 or budget > 0:
                ents.extend(take(self.unstable.entries, 0, hi - uoff, budget, at_least_one=False))
        return ents

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    def restore(self, s: Snapshot) -> None:
        self.committed = s.meta.index
        self.unstable.restore(s)

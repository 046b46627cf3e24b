"""When a member snapshots its state, and what a snapshot holds.

Why a separate object: snapshots bound the WAL size and the restart time, and
the decision (every `entries` applied requests, or once the WAL segment grew
past `bytes`) plus the catch-up margin kept in the in-memory log are policy,
independent of how the snapshot file is written. The member core asks it; the
async node and the simulator only do the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubelite.pb.etcd import internal_pb2
from kvstore.membership import Membership
from kvstore.mvcc import MVCCStore


@dataclass
class SnapshotPolicy:
    entries: int = 10_000
    """Snapshot after this many applied requests (etcd --snapshot-count)."""
    bytes: int = 64 * 1024 * 1024
    """... or once the current WAL segment holds this many bytes."""
    catchup_entries: int = 5_000
    """Entries kept in the log before a snapshot point, for slightly lagging followers."""
    index: int = 0
    """Index of the newest snapshot (taken or installed)."""
    since: int = 0
    """Requests applied since the last snapshot."""
    taken: int = 0

    def due(self, applied: int, wal_bytes: int) -> bool:
        if applied <= self.index:
            return False
        return self.since >= self.entries or wal_bytes >= self.bytes

    def compact_to(self, index: int) -> int:
        """Where the in-memory log may be compacted to after a snapshot at `index`."""
        return index - self.catchup_entries

    def saved(self, index: int) -> None:
        self.index = index
        self.since = 0
        self.taken += 1


def payload(store: MVCCStore, membership: Membership, voters: tuple[int, ...]) -> internal_pb2.KVStoreSnapshot:
    """The whole replicated state: MVCC (with leases), member table, voters."""
    snap = store.to_snapshot()
    snap.members.extend(membership.sorted())
    snap.voters.extend(voters)
    return snap


def load(data: bytes) -> tuple[MVCCStore, Membership | None, tuple[int, ...]]:
    """(store, member table or None when the snapshot has none, voters) from a payload."""
    snap_pb = internal_pb2.KVStoreSnapshot.FromString(data)
    store = MVCCStore.from_snapshot(snap_pb)
    membership: Membership | None = None
    if snap_pb.members:
        membership = Membership()
        for m in snap_pb.members:
            membership.add(m)
    return store, membership, tuple(sorted(snap_pb.voters))

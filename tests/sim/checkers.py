"""Raft safety properties, checked from outside the code under test after every step.

Why incremental: checking full logs of every member after every step would dominate the
run time, so each property is kept as a global "ground truth" that members' observable
actions (what they persist, report as committed, apply, or restore from a snapshot) are
compared against as they happen:

* election safety: at most one leader per term (`leaders[term]`).
* log matching: every persisted (index, term) names one entry, always with the same data
  and the same predecessor term; by induction two logs sharing an (index, term) are equal
  up to it.
* leader completeness: a member seen as leader of term T holds every entry known to have
  been committed before T (the commit term recorded is an upper bound: the term of the
  member that reported the commit, so no false alarm is possible).
* state-machine safety: no two members apply different entries at one index; the digest
  chain of everything applied up to the index must agree (also across snapshot restores).
* durability of promises: when a member grants a vote or acknowledges appended entries, its
  *synced* disk image already holds that vote / those entries (checked as the message leaves,
  so a member whose write or fsync failed and that acknowledged anyway is caught at once).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from kvstore.raft.errors import Compacted, Unavailable
from kvstore.raft.storage import MemoryStorage
from kvstore.raft.types import Entry, HardState, Message, MsgType


class SafetyViolation(AssertionError):
    """A Raft safety property was broken: the message says which, where and when."""


@dataclass
class _Committed:
    term: int
    commit_term: int  # upper bound on the term in which it was committed


@dataclass
class SafetyChecker:
    step: int = 0
    leaders: dict[int, int] = field(default_factory=dict)
    log_entries: dict[tuple[int, int], tuple[bytes, int]] = field(default_factory=dict)
    committed: dict[int, _Committed] = field(default_factory=dict)
    applied: dict[int, tuple[int, bytes, bytes]] = field(default_factory=dict)  # index -> (term, data, chain)
    checks: int = 0
    _reported: dict[int, int] = field(default_factory=dict)  # member -> highest commit recorded
    _snapshots: dict[tuple[int, bytes], bytes] = field(default_factory=dict)  # (index, data digest) -> chain
    _granted: dict[int, tuple[int, int]] = field(default_factory=dict)  # lease -> (first applied at step, TTL)
    _expiries: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # revoke req -> (lease, member, step)

    def forget(self, node: int) -> None:
        """`node` restarted: its commit reports start over."""
        self._reported.pop(node, None)

    def fail(self, what: str) -> None:
        raise SafetyViolation(f"step {self.step}: {what}")

    # ------------------------------------------------------------ election safety + completeness
    def on_leader(self, node: int, term: int, storage: MemoryStorage, first_time: bool) -> None:
        """`node` is leader of `term` right now; `first_time` = newly observed as such."""
        self.checks += 1
        other = self.leaders.setdefault(term, node)
        if other != node:
            self.fail(f"election safety: members {other} and {node} are both leader of term {term}")
        if first_time:
            self._leader_completeness(node, term, storage)

    def _leader_completeness(self, node: int, term: int, storage: MemoryStorage) -> None:
        first, last = storage.first_index(), storage.last_index()
        for index, c in self.committed.items():
            if c.commit_term >= term or index < first:
                continue
            if index > last:
                self.fail(f"leader completeness: leader {node} of term {term} lacks committed entry "
                          f"{index} (term {c.term}); its log ends at {last}")
            t = storage.term(index)
            if t != c.term:
                self.fail(f"leader completeness: leader {node} of term {term} has term {t} at "
                          f"committed index {index}, committed entry has term {c.term}")

    # ------------------------------------------------------------ log matching
    def on_persist(self, node: int, entries: list[Entry], storage: MemoryStorage) -> None:
        """Entries `node` just made durable (already appended to `storage`)."""
        for e in entries:
            try:
                prev_term = storage.term(e.index - 1)
            except (Compacted, Unavailable):
                continue  # below this member's snapshot point: nothing to compare
            self.checks += 1
            key = (e.index, e.term)
            seen = self.log_entries.get(key)
            if seen is None:
                self.log_entries[key] = (e.data, prev_term)
            elif seen != (e.data, prev_term):
                what = "data" if seen[0] != e.data else f"predecessor term ({seen[1]} vs {prev_term})"
                self.fail(f"log matching: member {node} persisted entry (index {e.index}, term {e.term}) "
                          f"that differs in {what} from another member's entry with the same index/term")

    # ------------------------------------------------------------ durability of acknowledgements
    def on_ack(self, node: int, m: Message, durable_last: int, durable: HardState) -> None:
        """`node` sends `m` (a granted vote or an append ack); `durable_*` is its synced disk image."""
        self.checks += 1
        if m.type == MsgType.VOTE_RESP:
            # a later term on disk also keeps the promise: this member can never vote in m.term again
            if durable.term < m.term or (durable.term == m.term and durable.vote != m.to):
                self.fail(f"durability: member {node} granted its vote to {m.to} in term {m.term}, "
                          f"but its disk holds term {durable.term} vote {durable.vote}")
        elif m.index > durable_last or durable.term != m.term:
            self.fail(f"durability: member {node} acknowledged entries up to {m.index} in term {m.term}, "
                      f"but its disk holds entries up to {durable_last} and term {durable.term}")

    # ------------------------------------------------------------ commitment
    def on_commit(self, node: int, hs: HardState, storage: MemoryStorage) -> None:
        """`node` persisted hard state `hs`: entries up to hs.commit are committed."""
        lo = max(storage.first_index(), self._reported.get(node, 0) + 1)
        hi = min(hs.commit, storage.last_index())
        for index in range(lo, hi + 1):
            self._record_commit(node, index, storage.term(index), hs.term)
        self._reported[node] = max(hi, self._reported.get(node, 0))
        if hs.commit > storage.last_index():
            self.fail(f"member {node} persisted commit {hs.commit} beyond its last index {storage.last_index()}")

    def _record_commit(self, node: int, index: int, term: int, commit_term: int) -> None:
        self.checks += 1
        c = self.committed.get(index)
        if c is None:
            self.committed[index] = _Committed(term, commit_term)
        elif c.term != term:
            self.fail(f"commit safety: member {node} holds term {term} at committed index {index}, "
                      f"but an entry of term {c.term} was committed there")
        elif commit_term < c.commit_term:
            c.commit_term = commit_term

    # ------------------------------------------------------------ state-machine safety
    def on_apply(self, node: int, e: Entry, chain: bytes, commit: int, term: int) -> None:
        self.checks += 1
        if e.index > commit:
            self.fail(f"member {node} applied index {e.index} beyond its commit index {commit}")
        self._record_commit(node, e.index, e.term, term)
        seen = self.applied.get(e.index)
        if seen is None:
            self.applied[e.index] = (e.term, e.data, chain)
        elif seen != (e.term, e.data, chain):
            self.fail(f"state-machine safety: member {node} applied a different entry at index {e.index} "
                      f"(term {e.term} vs {seen[0]}, same data: {seen[1] == e.data}, "
                      f"same history: {seen[2] == chain})")

    # ------------------------------------------------------------ lease safety
    def on_lease_granted(self, lease_id: int, ttl: int) -> None:
        """Some member applied the grant now (steps are the lessors' clock)."""
        self._granted.setdefault(lease_id, (self.step, ttl))

    def on_expiry_proposed(self, req_id: int, lease_id: int, node: int) -> None:
        self._expiries[req_id] = (lease_id, node, self.step)

    def on_lease_revoked(self, req_id: int) -> None:
        """A revoke was applied: if it came from expiry, the lease must have lived its TTL.

        Every member's deadline for a lease starts no earlier than the first apply of its
        grant (the grant, a snapshot holding it, or a promotion), so an expiry proposed
        before `first apply + TTL` is a lease that died early, whoever proposed it.
        """
        expiry = self._expiries.pop(req_id, None)
        if expiry is None:
            return
        lease_id, node, proposed = expiry
        self.checks += 1
        granted = self._granted.get(lease_id)
        if granted is not None and proposed < granted[0] + granted[1]:
            self.fail(f"lease safety: member {node} expired lease {lease_id:x} at step {proposed}, but its "
                      f"grant (TTL {granted[1]}) was first applied at step {granted[0]}")

    def on_snapshot(self, index: int, data: bytes, chain: bytes) -> None:
        """A member took a snapshot of its state at `index`, whose applied history has digest `chain`."""
        self._snapshots.setdefault((index, hashlib.blake2b(data, digest_size=16).digest()), chain)

    def snapshot_chain(self, index: int, data: bytes) -> bytes | None:
        """The applied-history digest of a snapshot some member took (None: nobody took it)."""
        return self._snapshots.get((index, hashlib.blake2b(data, digest_size=16).digest()))

    def on_restore(self, node: int, index: int, chain: bytes) -> None:
        self.checks += 1
        seen = self.applied.get(index)
        if seen is not None and seen[2] != chain:
            self.fail(f"state-machine safety: member {node} restored a snapshot at index {index} whose "
                      f"applied history differs from what other members applied")

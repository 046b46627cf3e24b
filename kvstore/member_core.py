"""The member core: one kvstore member's Raft node, log storage and replicated state, without I/O.

Why synchronous and clock-free: the async node (`kvstore.node`) and the
deterministic simulator (`tests/sim`) must run the *same* member code, so that a
seed that breaks the apply path, the early apply, a snapshot or a membership
change breaks the code that ships. Everything that waits lives outside: the
disk is a small `LogDisk` protocol (the WAL + snapshot files in the node, a
simulated page cache in `tests/sim/disk.py`), the shell answers proposers and
reads through `CoreHost`, and no clock is read here (the lessor's clock is
injected by the shell; the simulator passes its step counter).

The Ready contract, in etcd's order (`handle_ready`, or `begin` / disk / `end`
when the shell persists asynchronously):

1. soft state (role, leader); committed entries that were already durable
   before this Ready are applied at once ("early apply": a write is answered
   without waiting for this Ready's fsync, nor behind this Ready's messages);
2. persist a received snapshot, then entries + hard state (fsync if `must_sync`);
   a leader whose term and vote are already durable sends its messages *before*
   this write (Raft thesis 10.2.1, as etcd does), so its own fsync runs in parallel
   with the followers' instead of before them; safe because the Raft core counts
   the leader's own copy of an entry toward the commit quorum only once `advance`
   reports it durable (`kvstore.raft.core`, module doc);
3. update the in-memory log, send messages (unless sent early);
4. install a received snapshot, apply the remaining committed entries, release reads;
5. `advance`; then maybe take a local snapshot (`snapshot_due` / `snapshot_saved`).

A disk that fails (full, or a failed fsync: `kvstore.storagefault.StorageFault`)
ends step 2: the Ready is dropped unsent and unapplied, the core records the
fault (`fault`), refuses proposals, stops counting as leader and, if it led,
asks its most caught-up follower to campaign now. The shell must not `advance`
that Ready; it rebuilds the member from disk (`start`) once the disk works.

Exactly-once apply: entries at or below the store's index are skipped (they are
part of the snapshot the state was loaded from).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
from google.protobuf.message import Message as PbMessage

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore import snapshotter
from kvstore.errors import KVError
from kvstore.leases import Lessor
from kvstore.membership import Membership
from kvstore.mvcc import MVCCStore
from kvstore.raft import (
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    Message,
    MsgType,
    ProposalDropped,
    RawNode,
    Ready,
    Snapshot,
)
from kvstore.raft.types import ReadState
from kvstore.snapshotter import SnapshotPolicy
from kvstore.storagefault import StorageFault

log = logging.getLogger(__name__)

MAX_ENTRY_BYTES = 1024 * 1024
"""Requests proposed together are packed into entries of at most this size."""


class LogDisk(Protocol):
    """Durable storage of the Raft log, as the Ready contract needs it."""

    def save_snapshot(self, snap: Snapshot, hard_state: HardState) -> None:
        """Make a snapshot received from the leader durable; the log now starts after it."""

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool) -> None:
        """Append entries and the hard state; fsync when `sync`.

        Both raise StorageFault when the disk refuses (nothing of this call may be durable)."""


class CoreHost(Protocol):
    """What the shell does for the core: network, proposers, readers."""

    def send(self, messages: list[Message]) -> None: ...

    def answer(self, req_id: int, result: PbMessage | KVError) -> None:
        """The request `req_id` was applied here (its response or error)."""

    def conf_applied(self, cc: ConfChange) -> None: ...

    def release_reads(self, read_states: Sequence[ReadState]) -> None:
        """ReadIndex answers of this Ready; serve those whose index is applied."""

    def state_changed(self) -> None:
        """Store or member table replaced (snapshot installed) or peers changed."""

    def applied(self) -> None:
        """A batch of entries was applied (wake watchers, replay progress)."""


class CoreObserver:
    """Optional hooks on what the member makes durable, commits, applies and restores.

    Why: the simulator's safety checkers watch every member from outside; the
    node passes none. Defaults do nothing.
    """

    def on_persist(self, entries: list[Entry], storage: MemoryStorage) -> None: ...

    def on_commit(self, hard_state: HardState, storage: MemoryStorage) -> None: ...

    def on_leader(self, term: int, storage: MemoryStorage) -> None: ...

    def on_apply(self, entry: Entry, commit: int, term: int) -> None: ...

    def on_request(self, entry: Entry, req: internal_pb2.InternalRaftRequest) -> None:
        """`req` (one request of `entry`) was applied successfully."""

    def on_skip(self, entry: Entry, applied: int) -> None: ...

    def on_restore(self, index: int, data: bytes, applied_before: int) -> None: ...

    def on_snapshot(self, index: int, data: bytes) -> None: ...


@dataclass
class Persist:
    """What one Ready asks the disk to do (between `begin` and `end`)."""

    snapshot: Snapshot | None
    hard_state: HardState | None
    entries: list[Entry]
    sync: bool
    committed: list[Entry]
    """Committed entries still to apply after the disk write."""
    sent: bool = False
    """The messages went out before the disk write (a leader's; see the module doc)."""


class MemberCore:
    """Raft node + in-memory log + MVCC store + member table + lessor + snapshot policy."""

    def __init__(self, member_id: int, host: CoreHost, lessor: Lessor, policy: SnapshotPolicy,
                 observer: CoreObserver | None = None) -> None:
        self.member_id = member_id
        self.host = host
        self.lessor = lessor
        self.policy = policy
        self.observer = observer or CoreObserver()
        self.raw: RawNode | None = None
        self.storage = MemoryStorage()
        self.store = lessor.store
        self.membership = Membership()
        self.hs = HardState()
        self.conf = ConfState(())
        self.term = 0
        self.leader = 0
        self.role = "follower"
        self.commit_index = 0
        self.applied_last_turn = 0
        self.campaign = False
        """The only voter: the shell should campaign now instead of after an election timeout."""
        self.removed = False
        self.sent_to: dict[int, int] = {}
        """As leader: the last entry index this member sent each follower (acknowledged or not),
        which a hand-off after a failed fsync goes by (`storage_failed`)."""
        self.fault: StorageFault | None = None
        """The disk failed: nothing is acknowledged until the shell rebuilds the member (`start`)."""

    def start(self, raw: RawNode, storage: MemoryStorage, store: MVCCStore, membership: Membership,
              hard_state: HardState) -> None:
        """Take over the state recovered from disk (Raft was told applied = store.index)."""
        self.raw, self.storage, self.hs = raw, storage, hard_state
        self.fault = None
        self.role, self.leader = "follower", 0
        self.policy.index = store.index
        self.conf = ConfState(raw.status().voters)
        self.term = hard_state.term
        self._install(store, membership)
        if self.conf.voters == (self.member_id,):
            self.campaign = True

    def _install(self, store: MVCCStore, membership: Membership) -> None:
        self.store = store
        self.lessor.rebind(store)
        self.membership = membership
        self.host.state_changed()

    @property
    def is_leader(self) -> bool:
        return self.role == "leader"

    # ------------------------------------------------------------------ proposing

    def propose_requests(self, pending: Sequence[internal_pb2.InternalRaftRequest]) -> int:
        """Pack requests into log entries (`InternalRaftRequest.batch`, at most MAX_ENTRY_BYTES
        each) and propose them; returns how many were proposed -- the rest were refused
        (ProposalDropped: no leader yet) and may be retried on the next tick / leader change."""
        assert self.raw is not None
        if self.fault is not None:
            return 0
        start = 0
        while start < len(pending):
            size, end = 0, start
            while end < len(pending) and (end == start or size < MAX_ENTRY_BYTES):
                size += pending[end].ByteSize()
                end += 1
            chunk = pending[start:end]
            data = (chunk[0] if len(chunk) == 1 else internal_pb2.InternalRaftRequest(batch=chunk)).SerializeToString()
            try:
                self.raw.propose(data)
            except ProposalDropped:
                return start
            start = end
        return start

    # ------------------------------------------------------------------ the Ready contract

    def handle_ready(self, rd: Ready, disk: LogDisk) -> bool:
        """Steps 1-4 with a synchronous disk; False when the disk failed (then the caller must
        not `advance`: the member waits for its disk, see `storage_failed`)."""
        return self.finish(rd, self.begin(rd), disk)

    def finish(self, rd: Ready, plan: Persist, disk: LogDisk) -> bool:
        """Steps 2-4 of a Ready whose step 1 was `begin` (maybe a while ago: the simulator lets a
        leader's disk write lag its early-sent appends); False when the disk failed."""
        try:
            if plan.snapshot is not None:
                disk.save_snapshot(plan.snapshot, self.snapshot_hard_state(plan))
            if plan.entries or plan.hard_state is not None:
                disk.save(plan.hard_state, plan.entries, plan.sync)
        except StorageFault as fault:
            self.storage_failed(fault)
            return False
        self.end(rd, plan)
        return True

    def snapshot_hard_state(self, plan: Persist) -> HardState:
        """The hard state saved with a received snapshot: this Ready's term and vote, but a commit
        no higher than the snapshot's index -- the entries after it come with the next save, and a
        disk that fails in between must not be left holding a commit beyond its log."""
        assert plan.snapshot is not None
        hs = plan.hard_state or self.hs
        return HardState(hs.term, hs.vote, min(hs.commit, plan.snapshot.meta.index))

    def storage_failed(self, fault: StorageFault) -> None:
        """The disk refused a write or fsync: acknowledge nothing more, step down.

        The Ready being persisted is dropped (its messages would acknowledge what may not
        be durable). A leader hands off with one TimeoutNow to its most caught-up follower,
        valid only in a term this member made durable; the follower's election then runs
        Raft's usual checks, so a poor choice only costs an election timeout. The leader sent
        appends before its fsync, so the best choice is the follower it sent the most to, not the
        one that acknowledged the most, and the TIMEOUT_NOW names the last entry sent to it: the
        follower campaigns once that entry is there (`kvstore.raft.election.timeout_now`).
        """
        handoff = self._handoff() if self.fault is None else []
        self.fault = fault
        self.role, self.leader = "follower", 0
        log.warning("storage failed; refusing writes and stepping down", extra={
            "reason": fault.reason, "handoff_to": [f"{m.to:x}" for m in handoff]})
        if handoff:
            self.host.send(handoff)

    def _handoff(self) -> list[Message]:
        raft = self.raw.raft if self.raw is not None else None
        if raft is None or raft.role != "leader" or raft.term != self.hs.term:
            return []
        log = raft.log
        last = log.last_index()
        followers = sorted((-min(max(self.sent_to.get(peer, 0), pr.match), last), -pr.match, peer)
                           for peer, pr in raft.prs.items() if peer != self.member_id)
        if not followers:
            return []
        index, to = -followers[0][0], followers[0][2]
        return [Message(MsgType.TIMEOUT_NOW, to=to, frm=self.member_id, term=raft.term, index=index,
                        log_term=log.zero_term(index))]

    def begin(self, rd: Ready) -> Persist:
        """Step 1; returns what the disk must do before `end`."""
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state.leader, rd.soft_state.role)
        committed = rd.committed_entries
        if committed and rd.snapshot is None:
            # Entries already committed *and* on our disk need not wait for this Ready's
            # fsync: answering them now takes a whole disk flush off every write's latency.
            # Also without entries to write (a commit notice, the leader's commit on an ack):
            # applied before the messages are sent, the proposer's handler runs before the
            # peer-stream writes this Ready queues, not after them.
            # A membership change waits for `end`, after the messages: applied here it would drop
            # a removed peer's stream before this Ready's commit notice reached it, and the removed
            # member would never learn of (and apply) its own removal.
            durable = self.storage.last_index()
            n = 0
            while n < len(committed) and committed[n].index <= durable and (
                    not rd.messages or committed[n].type != EntryType.CONF_CHANGE):
                n += 1
            if n:
                self.apply(committed[:n], rd.hard_state)
                committed = committed[n:]
                self.host.release_reads(rd.read_states)
        sent = bool(rd.messages) and self._may_send_early(rd)
        if sent:
            self._send(rd.messages)
        return Persist(rd.snapshot, rd.hard_state, rd.entries, rd.must_sync, committed, sent)

    def _send(self, messages: list[Message]) -> None:
        if self.is_leader:
            sent_to = self.sent_to
            for m in messages:
                if m.entries and m.type == MsgType.APP:
                    sent_to[m.to] = max(sent_to.get(m.to, 0), m.entries[-1].index)
        self.host.send(messages)

    def _may_send_early(self, rd: Ready) -> bool:
        """A leader's messages (appends, heartbeats, read-index answers) depend on no state
        of this Ready that is not yet durable -- unless the Ready changes the term or vote
        (then nothing may leave before the fsync) or installs a snapshot."""
        hs = rd.hard_state
        return self.is_leader and rd.snapshot is None and (
            hs is None or (hs.term == self.hs.term and hs.vote == self.hs.vote))

    def end(self, rd: Ready, plan: Persist) -> None:
        """Steps 3-4, once the disk did what `plan` asked."""
        storage = self.storage
        if plan.snapshot is not None:
            storage.apply_snapshot(plan.snapshot)
        if plan.entries or plan.hard_state is not None:
            storage.append(plan.entries)
            if plan.entries:
                self.observer.on_persist(plan.entries, storage)
            if plan.hard_state is not None:
                storage.set_hard_state(plan.hard_state)
        if plan.hard_state is not None:
            self.hs = plan.hard_state
            self.term = plan.hard_state.term
            self.commit_index = plan.hard_state.commit
            self.observer.on_commit(plan.hard_state, storage)
        if rd.soft_state is not None and rd.soft_state.role == "leader":
            self.observer.on_leader(storage.hard_state().term, storage)
        if rd.messages and not plan.sent:
            self._send(rd.messages)
        if plan.snapshot is not None:
            self.restore(plan.snapshot)
        if plan.committed:
            self.apply(plan.committed, plan.hard_state)
        self.host.release_reads(rd.read_states)

    def advance(self, rd: Ready) -> None:
        assert self.raw is not None
        self.raw.advance(rd)

    def _on_soft_state(self, leader: int, role: str) -> None:
        was_leader = self.is_leader
        self.leader = leader
        self.role = role
        if self.is_leader and not was_leader:
            self.sent_to = {}
            self.lessor.refresh_all()  # a new leader gives every lease a full TTL (etcd: promote)
        log.info("raft role", extra={"role": role, "leader": f"{leader:x}", "term": self.term})

    # ------------------------------------------------------------------ apply

    def apply(self, entries: list[Entry], hard_state: HardState | None = None) -> None:
        """Apply committed entries in order; `hard_state` is this Ready's (it may not be saved yet)."""
        store = self.store
        applied = 0
        hs = hard_state or self.storage.hard_state()
        commit, term = hs.commit, hs.term
        for e in entries:
            if e.index <= store.index:
                self.observer.on_skip(e, store.index)
                continue  # already part of the snapshot the state was loaded from
            if e.type == EntryType.CONF_CHANGE:
                self._apply_conf_change(e)
            elif not e.data:
                store.skip(e.index, e.term)  # a new leader's no-op
            else:
                req = internal_pb2.InternalRaftRequest.FromString(e.data)
                batch = req.batch if req.batch else (req,)
                for r in batch:
                    self.apply_one(e, r)
                self.policy.since += len(batch) - 1
                applied += len(batch)
            self.policy.since += 1
            self.observer.on_apply(e, commit, term)
        self.applied_last_turn = applied
        self.commit_index = max(self.commit_index, store.index)
        self.host.applied()

    def apply_one(self, e: Entry, req: internal_pb2.InternalRaftRequest) -> None:
        """Apply one request of entry `e` to the store and answer its proposer (if here)."""
        kind = req.WhichOneof("request")
        try:
            if kind == "member_attributes":
                attrs = req.member_attributes
                self.membership.publish(attrs.ID, attrs.name, list(attrs.clientURLs))
                self.store.skip(e.index, e.term)
                resp: PbMessage = rpc_pb2.MemberListResponse()
            else:
                resp = self.store.apply_request(e.index, e.term, req)
        except KVError as exc:
            self.host.answer(req.ID, exc)
            return
        except Exception as exc:  # a bug: the store rolled the entry back; keep serving
            log.exception("applying log entry failed", extra={"entry_index": e.index})
            self.host.answer(req.ID, KVError(grpc.StatusCode.INTERNAL, f"etcdserver: apply failed: {exc!r}"))
            return
        if kind == "lease_grant":
            self.lessor.granted(req.lease_grant.ID)
        elif kind == "lease_revoke":
            self.lessor.forget(req.lease_revoke.ID)
        self.observer.on_request(e, req)
        self.host.answer(req.ID, resp)

    def _apply_conf_change(self, e: Entry) -> None:
        assert self.raw is not None
        try:
            cc = ConfChange.decode(e.data)
        except ValueError:
            log.error("undecodable membership entry", extra={"entry_index": e.index})
            self.store.skip(e.index, e.term)
            return
        self.conf = self.raw.apply_conf_change(cc)
        if cc.type == "bootstrap":
            for voter in cc.initial_voters():  # names and URLs came with the member table
                self.membership.add(rpc_pb2.Member(ID=voter))
        elif cc.type == "add":
            member = rpc_pb2.Member.FromString(cc.context) if cc.context else rpc_pb2.Member(ID=cc.node_id)
            member.ID = cc.node_id
            self.membership.add(member)
        else:
            self.membership.remove(cc.node_id)
        self.store.skip(e.index, e.term)
        self.host.state_changed()
        if self.conf.voters == (self.member_id,):
            self.campaign = True  # the only voter: lead now instead of after an election timeout
        log.info("membership changed", extra={
            "change": cc.type, "member": f"{cc.node_id:x}", "voters": [f"{v:x}" for v in self.conf.voters]})
        if cc.type == "remove" and cc.node_id == self.member_id:
            log.warning("this member was removed from the cluster")
            self.removed = True
        self.host.conf_applied(cc)

    def restore(self, snap: Snapshot) -> None:
        """Replace the state by a snapshot the leader sent (this member was too far behind)."""
        self.observer.on_restore(snap.meta.index, snap.data, self.store.index)
        store, membership, _voters = snapshotter.load(snap.data)
        store.index, store.term = snap.meta.index, snap.meta.term
        self.conf = snap.meta.conf_state
        self.policy.index = snap.meta.index
        self._install(store, membership or Membership())
        self.host.applied()
        log.info("installed snapshot from leader", extra={"index": snap.meta.index, "revision": store.revision})

    # ------------------------------------------------------------------ local snapshots

    def snapshot_due(self, wal_bytes: int) -> bool:
        return self.policy.due(self.store.index, wal_bytes)

    def snapshot_payload(self) -> internal_pb2.KVStoreSnapshot:
        return snapshotter.payload(self.store, self.membership, self.conf.voters)

    def snapshot_saved(self, index: int, data: bytes) -> None:
        """A snapshot of the state at `index` is durable: hand it to Raft, trim the in-memory log."""
        self.storage.create_snapshot(index, self.conf, data)
        compact_to = self.policy.compact_to(index)
        if compact_to > self.storage.first_index():
            self.storage.compact(compact_to)
        self.policy.saved(index)
        self.observer.on_snapshot(index, data)

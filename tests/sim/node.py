"""One simulated member: a RawNode driven by the Ready contract over a simulated disk.

Why it follows the contract literally: the simulator must find the bugs the real node layer
would hit, so each Ready is handled in etcd's order: persist snapshot + entries + hard state
(fsync when `must_sync`), only then send messages, then apply committed entries (and serve
ReadIndex reads once applied reaches their index), then `advance`. A crash throws away the
RawNode, the state machine, every waiting request and the unsynced disk tail; a restart
builds a fresh RawNode from the synced disk image only.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from kvstore.raft.config import Config
from kvstore.raft.node import RawNode
from kvstore.raft.storage import MemoryStorage
from kvstore.raft.types import ConfChange, ConfState, Entry, EntryType, HardState, Message, Ready, Snapshot
from tests.sim.checkers import SafetyChecker
from tests.sim.disk import Disk
from tests.sim.statemachine import KVStateMachine

Reply = Callable[[object], None]
Send = Callable[[Message], None]


@dataclass
class NodeParams:
    election_tick: int = 10
    heartbeat_tick: int = 1
    max_size_per_msg: int = 1 << 12
    max_inflight_msgs: int = 8
    snapshot_every: int = 30
    """Take a local snapshot after this many applied entries (0 = never)."""
    catch_up_entries: int = 5
    """Entries kept in the log before a snapshot point, for slightly lagging followers."""
    max_committed_size_per_ready: int = 0
    check_quorum: bool = True
    pre_vote: bool = True
    bugs: frozenset[str] = frozenset()
    """Deliberate node-layer bugs, only for tests proving the checkers catch them:
    "no_fsync" (never fsync), "local_reads" (serve gets without ReadIndex),
    "forget_vote" (drop the persisted vote on restart)."""


class SimNode:
    def __init__(self, node_id: int, params: NodeParams, checker: SafetyChecker) -> None:
        self.id = node_id
        self.params = params
        self.checker = checker
        self.disk = Disk()
        self.raw: RawNode | None = None
        self.storage = MemoryStorage()
        self.sm = KVStateMachine()
        self.conf = ConfState(())
        self.removed = False
        """Applied its own removal: stopped for good, like an etcd member that was removed."""
        self.incarnation = 0
        self.tick_rate = 1.0
        self.tick_acc = 0.0
        self.last_snap = 0
        self.was_leader_term = 0
        self.waiters: dict[int, Reply] = {}
        self.reads: dict[bytes, tuple[str, Reply]] = {}
        self.ready_reads: list[tuple[int, bytes]] = []
        self.paused_until = 0
        """A stop-the-world pause (GC, swapped out): no ticks, no Ready handling, inbox held."""
        self.inbox: list[Message] = []
        self.slow_until = 0
        """A slow disk: Readys are handled only every few steps, so inputs pile up in between."""

    @property
    def alive(self) -> bool:
        return self.raw is not None

    # ------------------------------------------------------------ lifecycle
    def start(self, rng: random.Random, peers: list[int] | None) -> None:
        """First start (peers given for a brand-new cluster, None for a joining member) or restart."""
        assert self.raw is None
        self.incarnation += 1
        st = self.disk.synced
        if "forget_vote" in self.params.bugs:
            st.hard_state = HardState(st.hard_state.term, 0, st.hard_state.commit)
        self.storage = st.to_storage()
        snap = st.snapshot
        self.sm = KVStateMachine.restore(snap.data, snap.meta.index)
        self.checker.forget(self.id)
        if snap.meta.index:
            self.checker.on_restore(self.id, snap.meta.index, self.sm.chain)
        self.conf = snap.meta.conf_state
        self.last_snap = snap.meta.index
        self.was_leader_term = 0
        cfg = Config(
            id=self.id, storage=self.storage, election_tick=self.params.election_tick,
            heartbeat_tick=self.params.heartbeat_tick, applied=snap.meta.index,
            max_size_per_msg=self.params.max_size_per_msg, max_inflight_msgs=self.params.max_inflight_msgs,
            check_quorum=self.params.check_quorum, pre_vote=self.params.pre_vote,
            max_committed_size_per_ready=self.params.max_committed_size_per_ready,
            rng=random.Random(rng.getrandbits(64)),
        )
        self.raw = RawNode(cfg, peers)

    def crash(self, rng: random.Random) -> int:
        """Stop abruptly; returns the number of unsynced disk writes lost."""
        self.raw = None
        self.paused_until = 0
        self.inbox.clear()
        self.waiters.clear()
        self.reads.clear()
        self.ready_reads.clear()
        return self.disk.crash(rng)

    # ------------------------------------------------------------ client entry points
    def propose(self, req_id: int, data: bytes, reply: Reply) -> None:
        """Raises ProposalDropped when the proposal cannot even be accepted locally."""
        assert self.raw is not None
        self.raw.propose(data)
        self.waiters[req_id] = reply

    def read(self, ctx: bytes, key: str, reply: Reply) -> None:
        assert self.raw is not None
        if "local_reads" in self.params.bugs:
            reply(self.sm.get(key))
            return
        self.reads[ctx] = (key, reply)
        self.raw.read_index(ctx)

    # ------------------------------------------------------------ the Ready loop
    def handle_ready(self, send: Send) -> bool:
        """Handle one Ready if there is one; True when something was done."""
        raw = self.raw
        if raw is None or self.paused_until or not raw.has_ready():
            return False
        rd = raw.ready()
        self._persist(rd)
        if rd.soft_state is not None and rd.soft_state.role == "leader":
            # seen the moment it happens, even if it steps down again within the step
            term = self.storage.hard_state().term
            self.checker.on_leader(self.id, term, self.storage, first_time=self.was_leader_term != term)
            self.was_leader_term = term
        for m in rd.messages:
            send(m)
        for rs in rd.read_states:
            if rs.request_ctx in self.reads:
                self.ready_reads.append((rs.index, rs.request_ctx))
        commit = self.storage.hard_state().commit
        term = self.storage.hard_state().term
        for e in rd.committed_entries:
            if self.removed:
                break  # nothing after our own removal concerns us; the cluster stops us this step
            self._apply(e, commit, term)
        self._serve_reads()
        raw.advance(rd)
        self._maybe_snapshot()
        return True

    def _persist(self, rd: Ready) -> None:
        disk, storage = self.disk, self.storage
        sync = rd.must_sync
        if rd.snapshot is not None and rd.snapshot.meta.index:
            snap = rd.snapshot
            disk.write_snapshot(snap, local=False)
            storage.apply_snapshot(snap)
            self._restore(snap)
            sync = True
        if rd.entries:
            disk.write_entries(rd.entries)
            storage.append(rd.entries)
            self.checker.on_persist(self.id, rd.entries, storage)
        if rd.hard_state is not None:
            disk.write_hard_state(rd.hard_state)
            storage.set_hard_state(rd.hard_state)
        if sync and "no_fsync" not in self.params.bugs:
            disk.fsync()
        if rd.hard_state is not None:
            self.checker.on_commit(self.id, rd.hard_state, storage)

    def _restore(self, snap: Snapshot) -> None:
        if snap.meta.index < self.sm.applied:
            self.checker.fail(f"member {self.id} was handed snapshot {snap.meta.index} behind its "
                              f"applied index {self.sm.applied}")
        self.sm = KVStateMachine.restore(snap.data, snap.meta.index)
        self.checker.on_restore(self.id, snap.meta.index, self.sm.chain)
        self.conf = snap.meta.conf_state
        self.last_snap = snap.meta.index

    def _apply(self, e: Entry, commit: int, term: int) -> None:
        if e.index != self.sm.applied + 1:
            self.checker.fail(f"member {self.id} was handed committed entry {e.index} to apply, but its "
                              f"state machine is at {self.sm.applied} (entries re-delivered or skipped)")
        result = self.sm.apply(e)
        self.checker.on_apply(self.id, e, self.sm.chain, commit, term)
        if e.type == EntryType.CONF_CHANGE:
            cc = ConfChange.decode(e.data)
            assert self.raw is not None
            self.conf = self.raw.apply_conf_change(cc)
            if cc.type == "remove" and cc.node_id == self.id:
                self.removed = True
            return
        if result is not None:
            req_id, output = result
            reply = self.waiters.pop(req_id, None)
            if reply is not None:
                reply(output)

    def _serve_reads(self) -> None:
        if not self.ready_reads:
            return
        applied = self.sm.applied
        keep: list[tuple[int, bytes]] = []
        for index, ctx in self.ready_reads:
            if index > applied:
                keep.append((index, ctx))
                continue
            entry = self.reads.pop(ctx, None)
            if entry is not None:
                key, reply = entry
                reply(self.sm.get(key))
        self.ready_reads = keep

    def _maybe_snapshot(self) -> None:
        every = self.params.snapshot_every
        applied = self.sm.applied
        if not every or applied - self.last_snap < every or self.raw is None or self.removed:
            return
        snap = self.storage.create_snapshot(applied, self.conf, self.sm.snapshot_data())
        self.disk.write_snapshot(snap, local=True)
        self.disk.fsync()
        self.last_snap = applied
        compact_to = applied - self.params.catch_up_entries
        if compact_to > self.storage.first_index():
            self.storage.compact(compact_to)

"""One simulated member: the shipped `kvstore.member_core.MemberCore` over a simulated disk.

Why the real core: the simulator must find the bugs the kvstore ships, so each Ready is handled
by the same code as in `kvstore.node` (etcd's order: persist snapshot + entries + hard state,
fsync when `must_sync`, only then send, then apply -- including the early apply of entries
already durable -- and release ReadIndex reads, then `advance`; then maybe snapshot). This
module is only the harness side: it plugs `tests.sim.disk` in as the core's `LogDisk`, answers
simulated clients as the core's `CoreHost`, and lets the safety checkers observe the core. A
crash throws away the core, every waiting request and the unsynced disk tail; a restart builds
a fresh core from the synced disk image only. A failing disk (`DiskFault`) is what `kvstore.node`
does with it: the core drops the Ready and steps down (a leader hands off), then the member is
down -- its unsynced tail cut off -- until the harness frees its disk and restarts it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from google.protobuf.message import Message as PbMessage

from kubelite.pb.etcd import internal_pb2
from kvstore import snapshotter
from kvstore.errors import KVError
from kvstore.leases import Lessor
from kvstore.member_core import MemberCore, Persist
from kvstore.membership import Membership
from kvstore.mvcc import MVCCStore
from kvstore.raft.config import Config
from kvstore.raft.errors import ProposalDropped
from kvstore.raft.node import RawNode
from kvstore.raft.storage import MemoryStorage
from kvstore.raft.types import ConfChange, ConfState, Entry, HardState, Message, ReadState, Ready, Snapshot
from kvstore.snapshotter import SnapshotPolicy
from kvstore.storagefault import StorageFault
from tests.sim.checkers import SafetyChecker
from tests.sim.disk import Disk
from tests.sim.statemachine import AppliedState, client_output

Reply = Callable[[object], None]
Send = Callable[[Message], None]
NEVER = 1 << 62

# Thousands of role changes and removals per run: the core's info/warning lines would only
# cost time and bury a failure report (errors, like a failed apply, still show).
logging.getLogger("kvstore.member_core").setLevel(logging.ERROR)


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
    "forget_vote" (drop the persisted vote on restart), "ignore_disk_errors" (carry on after a
    failed write or fsync as if it had worked: the fsyncgate mistake)."""


class SimDisk:
    """The core's `LogDisk` over the simulated page cache (`tests.sim.disk.Disk`)."""

    def __init__(self, disk: Disk, fsync: bool, ignore_errors: bool = False) -> None:
        self.disk = disk
        self.fsync = fsync
        self.ignore_errors = ignore_errors

    @contextmanager
    def _faults(self) -> Iterator[None]:
        try:
            yield
        except StorageFault:
            if not self.ignore_errors:
                raise
            self.disk.pending.clear()  # the kernel dropped the dirty pages; the buggy member carries on

    def save_snapshot(self, snap: Snapshot, hard_state: HardState) -> None:
        with self._faults():
            self.disk.write_snapshot(snap, local=False)
            self.disk.write_hard_state(hard_state)
            if self.fsync:
                self.disk.fsync()

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool) -> None:
        with self._faults():
            if entries:
                self.disk.write_entries(entries)
            if hard_state is not None:
                self.disk.write_hard_state(hard_state)
            if sync and self.fsync:
                self.disk.fsync()


class SimNode:
    def __init__(self, node_id: int, params: NodeParams, checker: SafetyChecker,
                 clock: Callable[[], float] = lambda: 0.0) -> None:
        self.id = node_id
        self.clock = clock
        """The lessor's clock: the simulation step."""
        self.params = params
        self.checker = checker
        self.disk = Disk()
        self.raw: RawNode | None = None
        self.core: MemberCore | None = None
        self.sm = self._observer()
        self.removed = False
        """Applied its own removal: stopped for good, like an etcd member that was removed."""
        self.incarnation = 0
        self.tick_rate = 1.0
        self.tick_acc = 0.0
        self.was_leader_term = 0
        self.waiters: dict[int, Reply] = {}
        self.reads: dict[bytes, tuple[str, Reply]] = {}
        self.ready_reads: list[tuple[int, bytes]] = []
        self.paused_until = 0
        """A stop-the-world pause (GC, swapped out): no ticks, no Ready handling, inbox held."""
        self.inbox: list[Message] = []
        self.slow_until = 0
        """A slow disk: Readys are handled only every few steps, so inputs pile up in between."""
        self._send: Send = lambda m: None
        self.queued: list[tuple[internal_pb2.InternalRaftRequest, Reply, Callable[[], None]]] = []
        """Client writes of this step, proposed together by `flush`."""
        self.disk_failed_at: int | None = None
        """The step its disk failed: down until the harness frees the disk (see `DiskFault`)."""
        self.on_disk_fault: Callable[[SimNode, int], None] = lambda node, lost: None
        self.fsyncing: tuple[Ready, Persist] | None = None
        """A leader's Ready whose appends went out before its disk write, which finishes at the
        next step (`finish_fsync`): meanwhile acks are stepped into its Raft and it may crash,
        losing the write -- what kvstore.node's fsync thread allows. No other Ready is handled
        until then (the node's loop awaits the thread)."""
        self._fsync_rng = random.Random(node_id)

    def _observer(self) -> AppliedState:
        return AppliedState(self.id, self.checker, lambda: self.store, self._seen_leading)

    @property
    def alive(self) -> bool:
        return self.raw is not None

    @property
    def store(self) -> MVCCStore:
        return self.core.store if self.core is not None else MVCCStore()

    @property
    def storage(self) -> MemoryStorage:
        return self.core.storage if self.core is not None else MemoryStorage()

    @property
    def conf(self) -> ConfState:
        return self.core.conf if self.core is not None else ConfState(())

    def _seen_leading(self, term: int, storage: MemoryStorage) -> None:
        # seen the moment it happens, even if it steps down again within the step
        self.checker.on_leader(self.id, term, storage, first_time=self.was_leader_term != term)
        self.was_leader_term = term

    # ------------------------------------------------------------ lifecycle
    def start(self, rng: random.Random, peers: list[int] | None) -> None:
        """First start (peers given for a brand-new cluster, None for a joining member) or restart."""
        assert self.raw is None
        self.incarnation += 1
        st = self.disk.synced
        if "forget_vote" in self.params.bugs:
            st.hard_state = HardState(st.hard_state.term, 0, st.hard_state.commit)
        storage = st.to_storage()
        snap = st.snapshot
        store, membership = MVCCStore(), Membership()
        if snap.meta.index:
            store, loaded, _voters = snapshotter.load(snap.data)
            store.index, store.term = snap.meta.index, snap.meta.term
            membership = loaded or membership
        self.checker.forget(self.id)
        self.sm = self._observer()
        self.sm.start_from(snap.meta.index, snap.data)
        self.was_leader_term = 0
        every = self.params.snapshot_every
        policy = SnapshotPolicy(entries=every or NEVER, bytes=NEVER, catchup_entries=self.params.catch_up_entries)
        core = MemberCore(self.id, self, Lessor(store, clock=self.clock), policy, observer=self.sm)
        bits = rng.getrandbits(64)
        self._fsync_rng = random.Random(bits ^ 0x5F5C)
        cfg = Config(
            id=self.id, storage=storage, election_tick=self.params.election_tick,
            heartbeat_tick=self.params.heartbeat_tick, applied=snap.meta.index,
            max_size_per_msg=self.params.max_size_per_msg, max_inflight_msgs=self.params.max_inflight_msgs,
            check_quorum=self.params.check_quorum, pre_vote=self.params.pre_vote,
            max_committed_size_per_ready=self.params.max_committed_size_per_ready,
            rng=random.Random(bits),
        )
        self.raw = RawNode(cfg, peers)
        core.start(self.raw, storage, store, membership, st.hard_state)
        self.core = core
        self._campaign_if_alone()

    def crash(self, rng: random.Random) -> int:
        """Stop abruptly; returns the number of unsynced disk writes lost."""
        self.raw = None
        self.fsyncing = None  # the write never reached the disk
        self.paused_until = 0
        self.inbox.clear()
        self.queued.clear()
        self.waiters.clear()
        self.reads.clear()
        self.ready_reads.clear()
        return self.disk.crash(rng)

    def _campaign_if_alone(self) -> None:
        core, raw = self.core, self.raw
        if core is not None and raw is not None and core.campaign:
            core.campaign = False  # what kvstore.node does: the only voter leads at once
            if raw.status().role != "leader":
                raw.campaign()

    # ------------------------------------------------------------ client entry points
    def propose(self, req_id: int, data: bytes, reply: Reply, refused: Callable[[], None] | None = None) -> None:
        """Propose a write now (raises ProposalDropped when it cannot even be accepted locally),
        or, given `refused`, queue it: `flush` proposes everything queued in one step the way
        kvstore.node does (packed into batch entries) and calls `refused` for what was dropped."""
        assert self.raw is not None and self.core is not None
        req = internal_pb2.InternalRaftRequest.FromString(data)
        if refused is not None:
            self.queued.append((req, reply, refused))
            return
        if not self.core.propose_requests([req]):
            raise ProposalDropped()
        self.waiters[req_id] = reply

    def flush(self) -> None:
        queued, self.queued = self.queued, []
        if not queued or self.core is None or self.raw is None or self.paused_until:
            for _, _, refused in queued:
                refused()
            return
        proposed = self.core.propose_requests([req for req, _, _ in queued])
        for i, (req, reply, refused) in enumerate(queued):
            if i < proposed:
                self.waiters[req.ID] = reply
            else:
                refused()

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
        raw, core = self.raw, self.core
        if raw is None or core is None or self.paused_until or self.fsyncing or not raw.has_ready():
            return False
        rd = raw.ready()
        self._send = send
        plan = core.begin(rd)
        if plan.sent and plan.entries and self._fsync_rng.random() < 0.5:
            self.fsyncing = (rd, plan)  # its appends are out; its own write lags (`finish_fsync`)
            return True
        self._finish(core, rd, plan)
        return True

    def finish_fsync(self) -> None:
        """The lagging disk write of a leader's Ready (`fsyncing`) completes now."""
        core, pending = self.core, self.fsyncing
        if core is None or pending is None or self.raw is None or self.paused_until:
            return
        self.fsyncing = None
        self._finish(core, *pending)

    def _finish(self, core: MemberCore, rd: Ready, plan: Persist) -> None:
        bugs = self.params.bugs
        if not core.finish(rd, plan, SimDisk(self.disk, "no_fsync" not in bugs, "ignore_disk_errors" in bugs)):
            self._disk_failed()
            return
        core.advance(rd)
        if core.removed:
            self.removed = True
        self._campaign_if_alone()
        self._maybe_snapshot(core)

    def _maybe_snapshot(self, core: MemberCore) -> None:
        if self.removed or not core.snapshot_due(0):
            return
        index = core.store.index
        core.snapshot_saved(index, core.snapshot_payload().SerializeToString())
        try:
            self.disk.write_snapshot(core.storage.snapshot(), local=True)
            self.disk.fsync()
        except StorageFault as fault:
            core.storage_failed(fault)
            self._disk_failed()

    def _disk_failed(self) -> None:
        """The core refused to go on; like kvstore.node, the member waits for its disk, holding
        only what was synced (a random part of the unsynced tail may have reached the disk)."""
        fault = self.disk.fault
        assert fault is not None
        lost = self.crash(fault.rng)
        self.disk_failed_at = int(self.clock())
        self.on_disk_fault(self, lost)

    # ------------------------------------------------------------ CoreHost
    def send(self, messages: list[Message]) -> None:
        for m in messages:
            self._send(m)

    def answer(self, req_id: int, result: PbMessage | KVError) -> None:
        reply = self.waiters.pop(req_id, None)
        if reply is not None:
            reply(client_output(result))

    def conf_applied(self, cc: ConfChange) -> None:
        pass

    def state_changed(self) -> None:
        pass

    def applied(self) -> None:
        pass

    def release_reads(self, read_states: Sequence[ReadState]) -> None:
        for rs in read_states:
            if rs.request_ctx in self.reads:
                self.ready_reads.append((rs.index, rs.request_ctx))
        if not self.ready_reads:
            return
        applied = self.store.index
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

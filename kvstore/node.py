"""The member: drives the Raft core, persists its log, applies committed entries to MVCC.

Why one loop task: `RawNode` is single-threaded and its Ready contract fixes an
order — persist entries + hard state (fsync) *before* sending messages, then
apply committed entries, then `advance`. `_run` is that loop. Everything else
(gRPC handlers, the transport) only queues work (proposals, read requests,
incoming messages) and wakes it. While a WAL write is in flight, new proposals
and acks pile up and go into the next Ready together, so 64 concurrent puts
share fsyncs and appends (group commit). A member also packs all requests it
proposes in one loop turn into a single log entry (`InternalRaftRequest.batch`).

Exactly-once apply: the MVCC state lives in memory and is rebuilt at start
from the newest snapshot (which records its log index) plus the committed
entries after it; Raft is told `applied = snapshot index`, so each entry is
applied once per process life. Proposers are answered by request id when
*their* entry is applied, on whichever member proposed it.

Reads: Range is linearizable by default — one ReadIndex round serves every read
queued since the last one (paced under concurrent reads, see `kvstore.reads`), and
each waits until this member applied up to the read index; `serializable` reads
skip that and read local state.

A full disk or failed fsync (`kvstore.storagefault`) does not end the loop: the member
refuses requests, the core steps down, and `kvstore.diskwait` rebuilds it from disk once
the disk takes writes again.

Disk layout under `data_dir`: `member/wal/*.wal`, `member/snap/*.snap`,
`member/meta.json` (ids, fixed at first start); start-up is `kvstore.recovery`.
What happens to a Ready, an entry or a snapshot is `kvstore.member_core`
(shared with the simulator); this module is its async shell: tasks, queues,
futures, the WAL off the event loop. Queued proposals, their futures and deadlines
are `kvstore.proposals`. Lease and membership requests are
`kvstore.cluster_ops`; compaction and snapshot policy are `kvstore.compaction`
and `kvstore.snapshotter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from google.protobuf.message import Message as PbMessage

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore import errors, snapshot
from kvstore.cluster_ops import LeaseOps, MemberOps, auto_compact
from kvstore.compaction import Compactor
from kvstore.diskwait import DiskWait
from kvstore.errors import KVError
from kvstore.leases import Clock, Lessor
from kvstore.logdisk import DiskThread, WalDisk
from kvstore.member_core import MemberCore, Persist
from kvstore.membership import (
    DEFAULT_TOKEN,
    Identity,
    Meta,
)
from kvstore.mvcc import MVCCStore
from kvstore.nodeview import CoreView, OpsView
from kvstore.proposals import ProposalQueue
from kvstore.raft import (
    ConfChange,
    Config,
    Message,
    MsgType,
    RaftError,
    RawNode,
    ReadState,
    Ready,
)
from kvstore.reads import ReadIndexQueue
from kvstore.recovery import Recovered, load_or_create_meta, recover
from kvstore.snapshotter import SnapshotPolicy
from kvstore.storagefault import StorageFault, kv_error
from kvstore.ticks import TickTimer, may_idle
from kvstore.transport import InMemoryNetwork, Transport
from kvstore.wal import Wal
from kvstore.watch import WatchHub

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1536 * 1024
"""etcd's default --max-request-bytes (1.5 MiB)."""
BUSY_REQUESTS = 24
"""From this many requests in flight on a member, its loop batches (see `batch_window`)."""
BUSY_MEMORY = 0.1
"""A turn that applied BUSY_REQUESTS requests makes the loop batch for this long (seconds)."""


class KVNode(CoreView, OpsView):
    """One kvstore member (see module doc)."""

    def __init__(
        self,
        data_dir: Path,
        name: str = "kv-1",
        *,
        snapshot_entries: int = 10_000,
        snapshot_bytes: int = 64 * 1024 * 1024,
        snapshot_catchup_entries: int = 5_000,
        clock: Clock = time.monotonic,
        progress_interval: float = 10.0,
        lease_check_interval: float = 0.5,
        auto_compaction_retention: float = 0.0,
        initial_cluster: list[tuple[str, str]] | None = None,
        initial_cluster_state: str = "new",
        cluster_token: str = DEFAULT_TOKEN,
        peer_url: str = "",
        client_urls: list[str] | None = None,
        transport: Transport | None = None,
        tick_interval: float = 0.1,
        election_ticks: int = 10,
        heartbeat_ticks: int = 1,
        request_timeout: float = 5.0,
        batch_window: float = 0.004,
        storage_retry_interval: float = 0.5,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.member_dir = self.data_dir / "member"
        self.name = name
        self.initial_cluster = initial_cluster
        self.initial_cluster_state = initial_cluster_state
        self.cluster_token = cluster_token
        self.peer_url = peer_url
        self.client_urls = client_urls or []
        self.transport: Transport = transport or InMemoryNetwork().transport()
        self.tick_interval = tick_interval
        self.election_ticks = election_ticks
        self.heartbeat_ticks = heartbeat_ticks
        self.request_timeout = request_timeout
        self.batch_window = batch_window
        """Under load the loop waits this long before a turn: fewer, bigger turns cost far less
        CPU per request (each turn pays a thread hop for the fsync and a stream write per peer)
        and add at most this much latency; a lightly loaded member never waits."""
        self.identity = Identity(name, 0, 0)
        self._peers_live = False
        self.hub = WatchHub(MVCCStore(), self.header, progress_interval)
        self.core = MemberCore(0, self, Lessor(MVCCStore(), clock), SnapshotPolicy(
            snapshot_entries, snapshot_bytes, snapshot_catchup_entries))
        self.hub.store = self.core.store
        self.leases = LeaseOps(self)
        self.members = MemberOps(self)
        self.lease_check_interval = lease_check_interval
        self.auto_compaction_retention = auto_compaction_retention
        self.compactor = Compactor(auto_compaction_retention)
        self._clock = clock
        self.disk_wait = DiskWait(self.member_dir, storage_retry_interval)
        self._meta: Meta | None = None
        self._raw: RawNode | None = None
        self._wal: Wal | None = None
        self._disk: WalDisk | None = None
        self._disk_thread = DiskThread(f"wal-sync-{name}")
        self._inbox: list[Message] = []
        self._unreachable: set[int] = set()
        self._snap_status: list[tuple[int, bool]] = []
        self._queue = ProposalQueue()
        self._reads = ReadIndexQueue()
        self._tick_count = 0
        self._applied_at = 0.0
        """Loop time of the last apply (see `_batch_wait`)."""
        self._campaign = False
        self._answered = False
        """This Ready answered a request waiting here (see `send`)."""
        self._replay_target = 0
        self._replayed = asyncio.Event()
        self._ticker = TickTimer(tick_interval, lambda: cast(RawNode, self._raw).raft, self._tick_fired)
        self._wake = asyncio.Event()
        self._read_timer: asyncio.TimerHandle | None = None
        self._leader_known = asyncio.Event()
        self.removed = asyncio.Event()
        self.broken = asyncio.Event()
        """Set when the Raft loop stopped on an unexpected error (`failure`): the process exits so
        that its supervisor restarts the member from its WAL, as etcd does on a panic."""
        self._tasks: list[asyncio.Task[None]] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._closed = False
        self.failure: BaseException | None = None
        self.ready = False
        self._catching_up = False
        self.wal_syncs = 0
        self.stats: dict[str, int] = {"turns": 0, "readies": 0, "msgs": 0, "entries": 0, "committed": 0,
                                      "inbox": 0, "proposed": 0, "read_retries": 0}
        self.wal_entries = 0

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Load identity, snapshot and WAL; rebuild Raft's storage; start the loop."""
        meta = await load_or_create_meta(
            self.member_dir, self.name, self.initial_cluster, self.initial_cluster_state, self.cluster_token,
            self.peer_url)
        self._meta = meta
        self.identity = meta.identity
        self.name = meta.identity.name or self.name
        me = self.identity.member_id
        self._queue.set_member(me)
        rec = await recover(self.member_dir, meta)
        self._load(rec)
        core = self.core
        self.transport.start(me, self.identity.cluster_id, self)
        self._peers_live = True
        self.transport.set_peers(self._peer_urls())
        self._loop_task = asyncio.create_task(self._run(), name="raft-loop")
        self._ticker.restart()
        self._tasks = [
            asyncio.create_task(self.leases.expire_loop(self.lease_check_interval), name="lease-expiry"),
            asyncio.create_task(self.members.publish(), name="member-publish"),
        ]
        if self.auto_compaction_retention > 0:
            self._tasks.append(asyncio.create_task(auto_compact(self), name="auto-compaction"))
        # Serve only once everything committed before the crash/stop is applied again.
        if self.store.index < self._replay_target:
            replayed = asyncio.create_task(self._replayed.wait())
            await asyncio.wait([replayed, self._loop_task], return_when=asyncio.FIRST_COMPLETED)
            replayed.cancel()
            if self.failure is not None:
                raise self.failure
        if core.campaign:
            core.campaign = False
            self._campaign = True  # alone: no reason to wait for an election timeout
            self._wake.set()
        self.ready = True
        log.info("kvstore replayed", extra={
            "snapshot_index": core.policy.index, "wal_entries": rec.wal_entries, "commit": core.hs.commit,
            "term": core.hs.term, "member_id": f"{me:x}", "cluster_id": f"{self.identity.cluster_id:x}",
            "voters": [f"{v:x}" for v in core.conf.voters],
        })

    def _load(self, rec: Recovered) -> None:
        """Take over the state recovered from disk: WAL, a RawNode over its log, the core's state."""
        me = self.identity.member_id
        self._wal = rec.wal
        self._disk = WalDisk(self.member_dir / "snap", rec.wal)
        self._raw = RawNode(Config(
            id=me, storage=rec.storage, election_tick=self.election_ticks, heartbeat_tick=self.heartbeat_ticks,
            applied=rec.store.index, rng=random.Random(secrets.randbits(64)),
        ), rec.peers)
        self.core.member_id = me
        self.core.start(self._raw, rec.storage, rec.store, rec.membership, rec.hard_state)
        self._replay_target = self.core.hs.commit

    def _peer_urls(self) -> dict[int, str]:
        return {i: u for i, u in self.membership.peer_urls().items() if i != self.identity.member_id}

    async def close(self) -> None:
        """Stop the loop and timers, fail waiting requests, close the WAL and transport."""
        if self._closed:
            return
        self._closed = True
        self.ready = False
        for task in [*self._tasks, self._loop_task]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._ticker.cancel()  # after the loop: its last turn may have armed it again
        self.hub.close_all()
        self._fail_all(errors.stopped())
        log.info("raft stats", extra=self.stats)
        await self.transport.close()
        await self._disk_thread.close()
        if self._wal is not None:
            self._wal.close()

    def _fail_all(self, exc: KVError) -> None:
        self._queue.fail_all(exc)
        for fut in self._reads.waiting():
            if not fut.done():
                fut.set_exception(exc)

    # ------------------------------------------------------------------ transport handler

    def receive(self, messages: list[Message]) -> None:
        if self.core.fault is not None:
            return  # meant for a member that is gone until its disk works; peers resend
        self._inbox.extend(messages)
        self._wake.set()

    def report_unreachable(self, peer: int) -> None:
        self._unreachable.add(peer)
        self._wake.set()

    def report_snapshot(self, peer: int, failed: bool) -> None:
        self._snap_status.append((peer, failed))
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    def _tick_fired(self, due: bool) -> None:
        if due:
            self._wake.set()
        self._queue.expire(lambda: errors.no_leader() if not self.leader else errors.timeout())

    async def _run(self) -> None:
        raw = self._raw
        assert raw is not None
        try:
            while True:
                if self.core.fault is not None:
                    raw = await self._wait_for_disk()
                    continue
                if not self._has_work():
                    self._wake.clear()
                    self._wake_for_reads()
                    await self._wake.wait()
                    # Under load, wait out the batch window so one turn (one fsync, one write per
                    # peer) carries many requests. Otherwise start at once: what the loop ran before
                    # waking this task has joined this turn already (a round more to look again was
                    # 5-10 % of a lone put's CPU on the three members).
                    wait = self._batch_wait()
                    if wait:
                        await asyncio.sleep(wait)
                    if not self._has_work():
                        continue
                self._feed(raw)
                self.stats["turns"] += 1
                while raw.has_ready():
                    rd = raw.ready()
                    self.stats["readies"] += 1
                    self.stats["msgs"] += len(rd.messages)
                    self.stats["entries"] += len(rd.entries)
                    self.stats["committed"] += len(rd.committed_entries)
                    if not await self._handle_ready(rd):
                        break  # the disk failed: this Ready is dropped, never advanced
                    raw.advance(rd)
                    if self.core.campaign:
                        self.core.campaign = False
                        self._campaign = True
                if self.core.fault is None:
                    await self._maybe_snapshot()
                self._ticker.settle(may_idle(raw.raft, self._queue, self._reads))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.critical("raft loop failed; refusing further requests", exc_info=True)
            self.failure = exc
            self.ready = False
            self._fail_all(errors.storage_failed(repr(exc)))
            self.broken.set()

    def _batch_wait(self) -> float:
        """How long to let requests gather before the next turn: `batch_window` under heavy
        load -- many requests in flight here, or many applied in the last turn (a busy leader
        whose clients are on other members) -- else nothing, so that a lightly loaded member,
        where the wait would be most of a request's latency, never waits."""
        load = len(self._queue.waiters) + len(self._reads.new)
        if self.core.applied_last_turn >= BUSY_REQUESTS and \
                asyncio.get_running_loop().time() - self._applied_at < BUSY_MEMORY:
            # Applying that much is only a sign of load while it is recent: a stale count from
            # the last put burst kept every later turn (a follower serving lone reads) waiting.
            return self.batch_window
        return self.batch_window if load >= BUSY_REQUESTS else 0.0

    def _has_work(self) -> bool:
        return bool(self._campaign or self._inbox or self._queue.has_work() or self._ticker.ticker.due()
                    or self._read_due() == 0 or self._unreachable or self._snap_status)

    def _read_due(self) -> float | None:
        """When the next ReadIndex round goes out (`ReadIndexQueue.due_in`)."""
        return self._reads.due_in(asyncio.get_running_loop().time(), self.batch_window, BUSY_REQUESTS)

    def _wake_for_reads(self) -> None:
        """Before the loop sleeps: a paced read round that is waiting wakes it when its window
        ends -- or at once if the window ended since `_has_work` looked (the clock moves between
        the two calls). Sleeping on such a round lost its wake-up: its reads waited for the
        next message or tick, up to a heartbeat interval (reads at 16 in flight: p99 ~80 ms)."""
        due = self._read_due()
        if due == 0:
            self._wake.set()
        elif due is not None and (self._read_timer is None or self._read_timer.cancelled()):
            self._read_timer = asyncio.get_running_loop().call_later(due, self._read_timer_fired)

    def _read_timer_fired(self) -> None:
        self._read_timer = None
        self._wake.set()

    def _feed(self, raw: RawNode) -> None:
        """Hand everything queued since the last turn to Raft."""
        if self._campaign:
            self._campaign = False
            if not self.is_leader:
                raw.campaign()
        inbox, self._inbox = self._inbox, []
        self.stats["inbox"] += len(inbox)

        def step() -> None:
            for m in inbox:
                try:
                    raw.step(m)
                except RaftError as exc:
                    log.debug("dropped raft message", extra={"type": m.type.name, "error": str(exc)})

        ticks = self._ticker.ticker.feed(
            raw.raft, asyncio.get_running_loop().time(), bool(inbox), raw.tick, step, self.election_ticks)
        if ticks:
            self._tick_count += ticks
            self._queue.blocked = False
            if self._reads.sent:
                before = self._reads.retries
                self._reads.retry(raw, self.identity.member_id, self._tick_count)
                self.stats["read_retries"] += self._reads.retries - before
        for peer in self._unreachable:
            raw.report_unreachable(peer)
        self._unreachable.clear()
        for peer, failed in self._snap_status:
            raw.report_snapshot(peer, failed)
        self._snap_status.clear()
        if self._queue.requests:
            self._queue.propose(self.core)
        self._queue.propose_conf_changes(raw, self.leader)
        if self._read_due() == 0:
            # One ReadIndex round at a time: reads arriving meanwhile share the next one,
            # so under load it costs one heartbeat round trip per batch, not per turn.
            self._reads.send_new(raw, self.identity.member_id, self._tick_count,
                                 asyncio.get_running_loop().time())

    async def _handle_ready(self, rd: Ready) -> bool:
        """The core's Ready contract, with the disk writes off the event loop (False: disk failed)."""
        core = self.core
        self._answered = False
        plan = core.begin(rd)
        if rd.soft_state is not None:
            self._queue.blocked = False
            if core.leader:
                self._leader_known.set()
            else:
                self._leader_known.clear()
        disk = self._disk
        assert disk is not None
        try:
            if plan.snapshot is not None:
                await asyncio.to_thread(disk.save_snapshot, plan.snapshot, core.snapshot_hard_state(plan))
            if plan.entries or plan.hard_state is not None:
                if plan.sync:
                    if self._sync_inline(plan):
                        disk.save(plan.hard_state, plan.entries, True)
                    else:
                        hs, entries = plan.hard_state, plan.entries
                        await self._disk_thread.run(lambda: disk.save(hs, entries, True))
                    self.wal_syncs += 1
                    self.wal_entries += len(plan.entries)
                else:
                    disk.save(plan.hard_state, plan.entries, False)
        except StorageFault as fault:
            self._storage_failed(fault)
            return False
        core.end(rd, plan)
        return True

    def _sync_inline(self, plan: Persist) -> bool:
        """Fsync on the loop itself, not in a worker thread? Only when nothing waits for the loop
        meanwhile: no message went out early (a leader's appends need the loop to reach the
        socket while its disk syncs) and at most one request is waiting here (a lone put whose
        ack this fsync gates). Then the thread hop and the hop back (0.3-0.5 ms on a busy
        2-core machine, on every lone put's critical path at the follower) buy nothing; under
        load the thread lets the loop take new requests in, which the next turn batches."""
        return not plan.sent and len(self._queue.waiters) + len(self._reads.new) <= 1 and self._batch_wait() == 0

    def _storage_failed(self, fault: StorageFault) -> None:
        """Stop acknowledging anything: the core steps down; waiting clients and watchers are
        told (they retry on another member); the loop then waits for the disk."""
        self.core.storage_failed(fault)
        self.disk_wait.failed(fault)
        self.ready = False
        self._leader_known.clear()
        self._fail_all(kv_error(fault))
        self._reads = ReadIndexQueue()
        self._queue.conf_changes.clear()
        self.hub.close_all()

    async def _wait_for_disk(self) -> RawNode:
        """Rebuild the member from disk once it takes writes again; the new RawNode."""
        assert self._disk is not None and self._meta is not None
        rec = await self.disk_wait.recovered(self._disk, self._meta)
        # What piled up was meant for the member that failed: drop it; peers resend.
        self._inbox.clear()
        self._unreachable.clear()
        self._snap_status.clear()
        self._load(rec)
        self._ticker.restart()
        self._campaign, self.core.campaign = self.core.campaign, False  # alone: lead at once
        self._catching_up = True
        self.applied()
        assert self._raw is not None
        return self._raw

    # ------------------------------------------------------------------ CoreHost

    def send(self, messages: list[Message]) -> None:
        # A Ready that answered a request here and sends only commit notices (and heartbeats no
        # read waits on) lets the request's handler run first: its reply is a client's latency,
        # those messages are no one's (their peer-stream writes took ~0.3 ms between a lone
        # put's answer and its reply).
        later = self._answered and all(
            not m.entries and (m.type == MsgType.APP or (m.type == MsgType.HEARTBEAT and not m.context))
            for m in messages)
        self.transport.send(messages, at_once=not later)

    def answer(self, req_id: int, result: PbMessage | KVError) -> None:
        self._answered |= self._queue.answer(req_id, result)

    def conf_applied(self, cc: ConfChange) -> None:
        self._queue.conf_applied(cc)
        if self.core.removed:
            self.removed.set()

    def state_changed(self) -> None:
        self.hub.store = self.core.store
        if self._peers_live:
            self.transport.set_peers(self._peer_urls())

    def applied(self) -> None:
        self._applied_at = asyncio.get_running_loop().time()
        if self.core.store.index >= self._replay_target:
            self._replayed.set()
            if self._catching_up:  # rebuilt after a storage fault: serving again
                self._catching_up = False
                self.ready = True
        self.hub.notify()

    def release_reads(self, read_states: Sequence[ReadState]) -> None:
        self._reads.answered(read_states, self.store.index)

    @property
    def wal_stats(self) -> tuple[int, int]:
        """(fsync'd WAL writes, entries) since start: entries/writes = group-commit factor."""
        return self.wal_syncs, self.wal_entries

    def disk_bytes(self) -> int:
        wal_bytes = self._wal.disk_bytes() if self._wal is not None else 0
        return wal_bytes + snapshot.disk_bytes(self.member_dir / "snap")

    # ------------------------------------------------------------------ compaction and snapshots

    def compaction_target(self) -> int:
        """Record the current revision; return the revision that is now `retention` old (0: none)."""
        return self.compactor.target(self._clock(), self.store.revision, self.store.compact_revision)

    def snapshot_payload(self) -> internal_pb2.KVStoreSnapshot:
        return self.core.snapshot_payload()

    async def _maybe_snapshot(self) -> None:
        assert self._disk is not None
        if self.core.snapshot_due(self._disk.wal.segment_bytes):
            try:
                await self._disk.take_snapshot(self.core)
            except StorageFault as fault:
                self._storage_failed(fault)

    async def take_snapshot(self) -> None:
        """Snapshot the state now (see `WalDisk.take_snapshot`)."""
        assert self._disk is not None
        await self._disk.take_snapshot(self.core)

    # ------------------------------------------------------------------ requests

    def _check_serving(self) -> None:
        if self._closed or self._raw is None:
            raise errors.stopped()
        if self.failure is not None:
            raise errors.storage_failed(repr(self.failure))
        if self.core.fault is not None:
            raise kv_error(self.core.fault)
        if self.removed.is_set():
            raise errors.member_removed()

    async def propose(self, req: internal_pb2.InternalRaftRequest) -> PbMessage:
        """Replicate `req`, wait until this member applied it, return its response.

        Raises the request's KVError (bad lease, compacted, ...), `no_leader`,
        `timeout` (indeterminate: it may still be applied) or `stopped`.
        """
        self._check_serving()
        req.ID = self._queue.next_id()
        if req.ByteSize() > MAX_REQUEST_BYTES:
            raise errors.request_too_large()
        fut = self._queue.add(req, self.request_timeout)
        self.stats["proposed"] += 1
        self._wake.set()
        try:
            return await fut  # failed by `ProposalQueue.expire` at the deadline
        finally:
            self._queue.waiters.pop(req.ID, None)

    async def linearizable_read(self) -> None:
        """Wait until this member has applied everything committed before the call (ReadIndex)."""
        self._check_serving()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reads.new.append(fut)
        self._queue.add_deadline(fut, self.request_timeout)
        self._wake.set()
        await fut

    async def propose_conf_change(self, cc: ConfChange) -> None:
        self._check_serving()
        fut = self._queue.add_conf_change(cc)
        self._wake.set()
        try:
            async with asyncio.timeout(self.request_timeout):
                await asyncio.shield(fut)
        except TimeoutError:
            raise (errors.no_leader() if not self.leader else errors.timeout()) from None
        finally:
            self._queue.conf_waiters.pop(cc.node_id, None)

    async def wait_leader(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                return await self._leader_known.wait()
        return False

    def transfer_leadership(self, to: int) -> None:
        assert self._raw is not None
        self._raw.transfer_leadership(to)
        self._wake.set()

    def header(self, revision: int | None = None) -> rpc_pb2.ResponseHeader:
        return rpc_pb2.ResponseHeader(
            cluster_id=self.identity.cluster_id, member_id=self.identity.member_id,
            revision=self.store.revision if revision is None else revision, raft_term=self.term,
        )

    def fill_header(self, header: rpc_pb2.ResponseHeader) -> None:
        header.cluster_id = self.identity.cluster_id
        header.member_id = self.identity.member_id
        header.raft_term = self.term
        if not header.revision:
            header.revision = self.store.revision

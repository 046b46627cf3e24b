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

Reads: Range is linearizable by default — one ReadIndex round per loop turn
serves every read queued in it, and each waits until this member applied up to
the read index; `serializable` reads skip that and read local state.

Disk layout under `data_dir`: `member/wal/*.wal`, `member/snap/*.snap`,
`member/meta.json` (ids, fixed at first start); start-up is `kvstore.recovery`.
Leases, compaction, snapshots and membership requests are in
`kvstore.housekeeping` (mixed in here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import deque
from pathlib import Path

import grpc
from google.protobuf.message import Message as PbMessage

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore import errors, snapshot
from kvstore.errors import KVError
from kvstore.housekeeping import Housekeeping
from kvstore.leases import Clock, Lessor
from kvstore.membership import (
    DEFAULT_TOKEN,
    Identity,
    Membership,
)
from kvstore.mvcc import MVCCStore
from kvstore.raft import (
    ConfChange,
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    Message,
    ProposalDropped,
    RaftError,
    RawNode,
    Ready,
    Snapshot,
)
from kvstore.recovery import load_or_create_meta, recover
from kvstore.transport import InMemoryNetwork, Transport
from kvstore.wal import Wal
from kvstore.watch import WatchHub

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1536 * 1024
"""etcd's default --max-request-bytes (1.5 MiB)."""
MAX_ENTRY_BYTES = 1024 * 1024
"""Requests proposed together are packed into entries of at most this size."""
READ_RETRY_TICKS = 5
BUSY_REQUESTS = 24
"""From this many requests in flight on a member, its loop batches (see `batch_window`)."""


class KVNode(Housekeeping):
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
        request_timeout: float = 5.0,
        batch_window: float = 0.004,
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
        self.request_timeout = request_timeout
        self.batch_window = batch_window
        """Under load the loop waits this long before a turn: fewer, bigger turns cost far less
        CPU per request (each turn pays a thread hop for the fsync and a stream write per peer)
        and add at most this much latency; a lightly loaded member never waits."""
        self._applied_last_turn = 0
        self.identity = Identity(name, 0, 0)
        self.term = 0
        self.leader = 0
        self.commit_index = 0
        self.store = MVCCStore()
        self.membership = Membership()
        self.lessor = Lessor(self.store, clock)
        self.hub = WatchHub(self.store, self.header, progress_interval)
        self.snapshot_entries = snapshot_entries
        self.snapshot_bytes = snapshot_bytes
        self.snapshot_catchup_entries = snapshot_catchup_entries
        self.lease_check_interval = lease_check_interval
        self.auto_compaction_retention = auto_compaction_retention
        self._clock = clock
        self._rev_samples: deque[tuple[float, int]] = deque()
        self._raw: RawNode | None = None
        self._storage = MemoryStorage()
        self._wal: Wal | None = None
        self._hs = HardState()
        self._conf = ConfState(())
        self._snap_index = 0
        self._inbox: list[Message] = []
        self._unreachable: set[int] = set()
        self._snap_status: list[tuple[int, bool]] = []
        self._proposals: list[internal_pb2.InternalRaftRequest] = []
        self._conf_proposals: list[ConfChange] = []
        self._waiters: dict[int, asyncio.Future[PbMessage]] = {}
        self._conf_waiters: dict[int, asyncio.Future[None]] = {}
        self._reads_new: list[asyncio.Future[None]] = []
        self._deadlines: deque[tuple[float, asyncio.Future[PbMessage] | asyncio.Future[None]]] = deque()
        self._reads_sent: dict[bytes, tuple[int, list[asyncio.Future[None]]]] = {}
        self._reads_ready: list[tuple[int, list[asyncio.Future[None]]]] = []
        self._read_seq = 0
        self._tick_count = 0
        self._blocked = False
        self._campaign = False
        self._replay_target = 0
        self._since_snapshot = 0
        """Requests applied since the last snapshot (the --snapshot-count trigger)."""
        self._replayed = asyncio.Event()
        self.role = "follower"
        self._id_prefix = 0
        self._id_seq = 0
        self._ticks = 0
        self._wake = asyncio.Event()
        self._leader_known = asyncio.Event()
        self.removed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._closed = False
        self.failure: BaseException | None = None
        self.ready = False
        self.snapshots_taken = 0
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
        self.identity = meta.identity
        self.name = meta.identity.name or self.name
        me = self.identity.member_id
        self._id_prefix = (me & 0xFFFF) << 48 | secrets.randbits(16) << 32
        rec = await recover(self.member_dir, meta)
        store, storage = rec.store, rec.storage
        self._wal, self._storage, self._hs, self._snap_index = rec.wal, storage, rec.hard_state, store.index
        self._raw = RawNode(Config(
            id=me, storage=storage, election_tick=self.election_ticks, heartbeat_tick=1,
            applied=store.index, rng=random.Random(secrets.randbits(64)),
        ), rec.peers)
        self._conf = ConfState(self._raw.status().voters)
        self.term = self._hs.term
        self._install(store, rec.membership)
        self.transport.start(me, self.identity.cluster_id, self)
        self.transport.set_peers(self._peer_urls())
        self._loop_task = asyncio.create_task(self._run(), name="raft-loop")
        self._tasks = [
            asyncio.create_task(self._ticker(), name="raft-ticker"),
            asyncio.create_task(self._expire_leases(), name="lease-expiry"),
            asyncio.create_task(self._publish(), name="member-publish"),
        ]
        if self.auto_compaction_retention > 0:
            self._tasks.append(asyncio.create_task(self._auto_compact(), name="auto-compaction"))
        # Serve only once everything committed before the crash/stop is applied again.
        self._replay_target = self._hs.commit
        if self.store.index < self._replay_target:
            replayed = asyncio.create_task(self._replayed.wait())
            await asyncio.wait([replayed, self._loop_task], return_when=asyncio.FIRST_COMPLETED)
            replayed.cancel()
            if self.failure is not None:
                raise self.failure
        if self._conf.voters == (me,):
            self._campaign = True  # alone: no reason to wait for an election timeout
            self._wake.set()
        self.ready = True
        log.info("kvstore replayed", extra={
            "snapshot_index": self._snap_index, "wal_entries": rec.wal_entries, "commit": self._hs.commit,
            "term": self._hs.term, "member_id": f"{me:x}", "cluster_id": f"{self.identity.cluster_id:x}",
            "voters": [f"{v:x}" for v in self._conf.voters],
        })

    def _install(self, store: MVCCStore, membership: Membership) -> None:
        self.store = store
        self.hub.store = store
        self.lessor.rebind(store)
        self.membership = membership

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
        self.hub.close_all()
        self._fail_all(errors.stopped())
        log.info("raft stats", extra=self.stats)
        await self.transport.close()
        if self._wal is not None:
            self._wal.close()

    def _fail_all(self, exc: KVError) -> None:
        futs: list[asyncio.Future[PbMessage] | asyncio.Future[None]] = [
            *self._waiters.values(), *self._conf_waiters.values(), *self._reads_new,
            *(f for _, fs in self._reads_sent.values() for f in fs), *(f for _, fs in self._reads_ready for f in fs)]
        for fut in futs:
            if not fut.done():
                fut.set_exception(exc)
        self._proposals.clear()

    # ------------------------------------------------------------------ transport handler

    def receive(self, messages: list[Message]) -> None:
        self._inbox.extend(messages)
        self._wake.set()

    def report_unreachable(self, peer: int) -> None:
        self._unreachable.add(peer)
        self._wake.set()

    def report_snapshot(self, peer: int, failed: bool) -> None:
        self._snap_status.append((peer, failed))
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            self._ticks += 1
            self._wake.set()
            self._expire_requests()

    def _expire_requests(self) -> None:
        """Fail requests whose deadline passed (one deadline queue instead of a timer per request).

        The error is indeterminate for writes: the entry may still commit later.
        """
        now = asyncio.get_running_loop().time()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            fut = deadlines.popleft()[1]
            if not fut.done():
                fut.set_exception(errors.no_leader() if not self.leader else errors.timeout())

    async def _run(self) -> None:
        raw = self._raw
        assert raw is not None
        try:
            while True:
                if not self._has_work():
                    self._wake.clear()
                    await self._wake.wait()
                    # Let what arrived together join this turn; under load, wait out the batch
                    # window so one turn (one fsync, one write per peer) carries many requests.
                    await asyncio.sleep(self._batch_wait())
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
                    await self._handle_ready(raw, rd)
                    raw.advance(rd)
                await self._maybe_snapshot()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.critical("raft loop failed; refusing further requests", exc_info=True)
            self.failure = exc
            self.ready = False
            self._fail_all(errors.storage_failed(repr(exc)))

    def _batch_wait(self) -> float:
        """How long to let requests gather before the next turn: `batch_window` under heavy
        load -- many requests in flight here, or many applied in the last turn (a busy leader
        whose clients are on other members) -- else nothing, so that a lightly loaded member,
        where the wait would be most of a request's latency, never waits."""
        load = max(len(self._waiters) + len(self._reads_new), self._applied_last_turn)
        return self.batch_window if load >= BUSY_REQUESTS else 0.0

    def _has_work(self) -> bool:
        return bool(self._campaign or self._inbox or (self._proposals and not self._blocked) or self._ticks
                    or (self._reads_new and not self._reads_sent)
                    or self._conf_proposals or self._unreachable or self._snap_status)

    def _feed(self, raw: RawNode) -> None:
        """Hand everything queued since the last turn to Raft."""
        if self._campaign:
            self._campaign = False
            if not self.is_leader:
                raw.campaign()
        ticks, self._ticks = self._ticks, 0
        if ticks:
            self._blocked = False
        for _ in range(min(ticks, self.election_ticks)):
            raw.tick()
            self._tick_count += 1
        if ticks and self._reads_sent:
            self._retry_reads(raw)
        inbox, self._inbox = self._inbox, []
        self.stats["inbox"] += len(inbox)
        for m in inbox:
            try:
                raw.step(m)
            except RaftError as exc:
                log.debug("dropped raft message", extra={"type": m.type.name, "error": str(exc)})
        for peer in self._unreachable:
            raw.report_unreachable(peer)
        self._unreachable.clear()
        for peer, failed in self._snap_status:
            raw.report_snapshot(peer, failed)
        self._snap_status.clear()
        if self._proposals:
            self._propose_pending(raw)
        while self._conf_proposals:
            cc = self._conf_proposals.pop(0)
            try:
                raw.propose_conf_change(cc)
            except ProposalDropped:
                fut = self._conf_waiters.pop(cc.node_id, None)
                if fut is not None and not fut.done():
                    fut.set_exception(errors.conf_change_pending() if self.leader else errors.no_leader())
        if self._reads_new and not self._reads_sent:
            # One ReadIndex round at a time: reads arriving meanwhile share the next one,
            # so under load it costs one heartbeat round trip per batch, not per turn.
            self._send_read(raw, self._reads_new)
            self._reads_new = []

    def _propose_pending(self, raw: RawNode) -> None:
        pending = [r for r in self._proposals if r.ID in self._waiters]  # skip requests whose caller gave up
        self._proposals = []
        start = 0
        while start < len(pending):
            size, end = 0, start
            while end < len(pending) and (end == start or size < MAX_ENTRY_BYTES):
                size += pending[end].ByteSize()
                end += 1
            chunk = pending[start:end]
            data = (chunk[0] if len(chunk) == 1 else internal_pb2.InternalRaftRequest(batch=chunk)).SerializeToString()
            try:
                raw.propose(data)
            except ProposalDropped:
                self._proposals.extend(pending[start:])  # no leader yet: retry on the next tick / leader change
                self._blocked = True
                return
            start = end

    def _send_read(self, raw: RawNode, waiters: list[asyncio.Future[None]]) -> None:
        """One ReadIndex round for every read queued in this turn (they share the heartbeat quorum)."""
        self._read_seq += 1
        ctx = self.identity.member_id.to_bytes(8, "big") + self._read_seq.to_bytes(8, "big")
        try:
            raw.read_index(ctx)
        except ProposalDropped:
            pass  # no leader yet: retried after READ_RETRY_TICKS
        self._reads_sent[ctx] = (self._tick_count, waiters)

    def _retry_reads(self, raw: RawNode) -> None:
        """A ReadIndex request or its answer can be lost (leader change, dropped message): ask again."""
        for ctx, (sent, waiters) in list(self._reads_sent.items()):
            if self._tick_count - sent >= READ_RETRY_TICKS:
                del self._reads_sent[ctx]
                self.stats["read_retries"] += 1
                live = [f for f in waiters if not f.done()]
                if live:
                    self._send_read(raw, live)

    async def _handle_ready(self, raw: RawNode, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state.leader, rd.soft_state.role)
        wal = self._wal
        assert wal is not None
        committed = rd.committed_entries
        if committed and rd.snapshot is None and rd.entries:
            # Entries already committed *and* on our disk need not wait for this Ready's
            # fsync: answering them now takes a whole disk flush off every write's latency.
            durable = self._storage.last_index()
            n = 0
            while n < len(committed) and committed[n].index <= durable:
                n += 1
            if n:
                self._apply(raw, committed[:n])
                committed = committed[n:]
                self._release_reads_from(rd)
        if rd.snapshot is not None:
            snap, hs = rd.snapshot, rd.hard_state or self._hs
            await asyncio.to_thread(snapshot.save_bytes, self.member_dir / "snap", snap.meta.index, snap.data)
            await asyncio.to_thread(wal.mark_snapshot, snap.meta.index, snap.meta.term, hs)
            self._storage.apply_snapshot(snap)
        if rd.entries or rd.hard_state is not None:
            if rd.must_sync:
                await asyncio.to_thread(wal.save, rd.hard_state, rd.entries, True)
                self.wal_syncs += 1
                self.wal_entries += len(rd.entries)
            else:
                wal.save(rd.hard_state, rd.entries, False)
            self._storage.append(rd.entries)
            if rd.hard_state is not None:
                self._storage.set_hard_state(rd.hard_state)
        if rd.hard_state is not None:
            self._hs = rd.hard_state
            self.term = rd.hard_state.term
            self.commit_index = rd.hard_state.commit
        if rd.messages:
            self.transport.send(rd.messages)
        if rd.snapshot is not None:
            self._restore(rd.snapshot)
        if committed:
            self._apply(raw, committed)
        self._release_reads_from(rd)

    def _release_reads_from(self, rd: Ready) -> None:
        for rs in rd.read_states:
            sent = self._reads_sent.pop(rs.request_ctx, None)
            if sent is not None:
                self._reads_ready.append((rs.index, sent[1]))
        if self._reads_ready:
            self._release_reads()

    def _release_reads(self) -> None:
        applied = self.store.index
        keep: list[tuple[int, list[asyncio.Future[None]]]] = []
        for index, waiters in self._reads_ready:
            if index <= applied:
                for f in waiters:
                    if not f.done():
                        f.set_result(None)
            else:
                keep.append((index, waiters))
        self._reads_ready = keep

    def _on_soft_state(self, leader: int, role: str) -> None:
        was_leader = self.is_leader
        self.leader = leader
        self.role = role
        self._blocked = False
        if leader:
            self._leader_known.set()
        else:
            self._leader_known.clear()
        if self.is_leader and not was_leader:
            self.lessor.refresh_all()  # a new leader gives every lease a full TTL (etcd: promote)
        log.info("raft role", extra={"role": role, "leader": f"{leader:x}", "term": self.term})

    @property
    def is_leader(self) -> bool:
        return self.role == "leader"

    # ------------------------------------------------------------------ apply

    def _apply(self, raw: RawNode, entries: list[Entry]) -> None:
        store = self.store
        applied = 0
        for e in entries:
            if e.index <= store.index:
                continue  # already part of the snapshot the state was loaded from
            if e.type == EntryType.CONF_CHANGE:
                self._apply_conf_change(raw, e)
            elif not e.data:
                store.skip(e.index, e.term)  # a new leader's no-op
            else:
                req = internal_pb2.InternalRaftRequest.FromString(e.data)
                batch = req.batch if req.batch else (req,)
                for r in batch:
                    self._apply_one(e, r)
                self._since_snapshot += len(batch) - 1
                applied += len(batch)
            self._since_snapshot += 1
        self._applied_last_turn = applied
        self.commit_index = max(self.commit_index, store.index)
        if store.index >= self._replay_target:
            self._replayed.set()
        self.hub.notify()

    def _apply_one(self, e: Entry, req: internal_pb2.InternalRaftRequest) -> None:
        fut = self._waiters.pop(req.ID, None)
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
            if fut is not None and not fut.done():
                fut.set_exception(exc)
            return
        except Exception as exc:  # a bug: the store rolled the entry back; keep serving
            log.exception("applying log entry failed", extra={"entry_index": e.index})
            if fut is not None and not fut.done():
                fut.set_exception(KVError(grpc.StatusCode.INTERNAL, f"etcdserver: apply failed: {exc!r}"))
            return
        if kind == "lease_grant":
            self.lessor.granted(req.lease_grant.ID)
        elif kind == "lease_revoke":
            self.lessor.forget(req.lease_revoke.ID)
        if fut is not None and not fut.done():
            fut.set_result(resp)

    def _apply_conf_change(self, raw: RawNode, e: Entry) -> None:
        try:
            cc = ConfChange.decode(e.data)
        except ValueError:
            log.error("undecodable membership entry", extra={"entry_index": e.index})
            self.store.skip(e.index, e.term)
            return
        self._conf = raw.apply_conf_change(cc)
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
        self.transport.set_peers(self._peer_urls())
        if self._conf.voters == (self.identity.member_id,):
            self._campaign = True  # the only voter: lead now instead of after an election timeout
        log.info("membership changed", extra={
            "change": cc.type, "member": f"{cc.node_id:x}", "voters": [f"{v:x}" for v in self._conf.voters]})
        fut = self._conf_waiters.pop(cc.node_id, None)
        if fut is not None and not fut.done():
            fut.set_result(None)
        if cc.type == "remove" and cc.node_id == self.identity.member_id:
            log.warning("this member was removed from the cluster")
            self.removed.set()

    def _restore(self, snap: Snapshot) -> None:
        """Replace the state by a snapshot the leader sent (this member was too far behind)."""
        snap_pb = internal_pb2.KVStoreSnapshot.FromString(snap.data)
        store = MVCCStore.from_snapshot(snap_pb)
        store.index, store.term = snap.meta.index, snap.meta.term
        membership = Membership()
        for m in snap_pb.members:
            membership.add(m)
        self._install(store, membership)
        self._conf = snap.meta.conf_state
        self._snap_index = snap.meta.index
        self.transport.set_peers(self._peer_urls())
        self.hub.notify()
        log.info("installed snapshot from leader", extra={"index": snap.meta.index, "revision": store.revision})

    # ------------------------------------------------------------------ requests

    def _check_serving(self) -> None:
        if self._closed or self._raw is None:
            raise errors.stopped()
        if self.failure is not None:
            raise errors.storage_failed(repr(self.failure))
        if self.removed.is_set():
            raise errors.member_removed()

    def _next_id(self) -> int:
        self._id_seq = (self._id_seq + 1) & 0xFFFFFFFF
        return self._id_prefix | self._id_seq

    async def propose(self, req: internal_pb2.InternalRaftRequest) -> PbMessage:
        """Replicate `req`, wait until this member applied it, return its response.

        Raises the request's KVError (bad lease, compacted, ...), `no_leader`,
        `timeout` (indeterminate: it may still be applied) or `stopped`.
        """
        self._check_serving()
        req.ID = self._next_id()
        if req.ByteSize() > MAX_REQUEST_BYTES:
            raise errors.request_too_large()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PbMessage] = loop.create_future()
        self._waiters[req.ID] = fut
        self._deadlines.append((loop.time() + self.request_timeout, fut))
        self._proposals.append(req)
        self.stats["proposed"] += 1
        self._wake.set()
        try:
            return await fut  # failed by `_expire_requests` at the deadline
        finally:
            self._waiters.pop(req.ID, None)

    async def linearizable_read(self) -> None:
        """Wait until this member has applied everything committed before the call (ReadIndex)."""
        self._check_serving()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._reads_new.append(fut)
        self._deadlines.append((loop.time() + self.request_timeout, fut))
        self._wake.set()
        await fut

    async def propose_conf_change(self, cc: ConfChange) -> None:
        self._check_serving()
        if cc.node_id in self._conf_waiters:
            raise errors.conf_change_pending()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._conf_waiters[cc.node_id] = fut
        self._conf_proposals.append(cc)
        self._wake.set()
        try:
            async with asyncio.timeout(self.request_timeout):
                await asyncio.shield(fut)
        except TimeoutError:
            raise (errors.no_leader() if not self.leader else errors.timeout()) from None
        finally:
            self._conf_waiters.pop(cc.node_id, None)

    async def wait_leader(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._leader_known.wait()
        except TimeoutError:
            return False
        return True

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

"""The member: log -> apply pipeline, lease expiry and snapshots around one MVCC store.

Why this layer: the gRPC services only *propose* write requests and *read* the
store; this class decides when a proposal is committed and applies committed
entries in log order. Today "committed" means "fdatasync'd to the local WAL"
(group-committed); with Raft it becomes "replicated to a quorum", and only this
module changes: `propose()` keeps its signature, `_apply_committed()` keeps
feeding `MVCCStore.apply`.

Disk layout under `data_dir`: `member/wal/*.wal`, `member/snap/*.snap`,
`member/meta.json` (this member's and the cluster's ids, fixed at first start).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf.message import Message

from kvstore import errors, snapshot
from kvstore.errors import KVError
from kvstore.leases import Clock, Lessor
from kvstore.mvcc import MVCCStore
from kvstore.wal import Batch, Entry, GroupCommitter, Wal
from kvstore.watch import WatchHub
from pb.etcd import internal_pb2, rpc_pb2

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1536 * 1024
"""etcd's default --max-request-bytes (1.5 MiB)."""


@dataclass(frozen=True)
class Identity:
    name: str
    member_id: int
    cluster_id: int


def load_identity(member_dir: Path, name: str) -> Identity:
    """This member's ids: random at first start, then fixed (clients cache them)."""
    path = member_dir / "meta.json"
    if path.exists():
        meta = json.loads(path.read_text())
        return Identity(name, int(meta["member_id"]), int(meta["cluster_id"]))
    member_dir.mkdir(parents=True, exist_ok=True)
    member_id = secrets.randbits(63) or 1
    cluster_id = zlib.crc32(member_id.to_bytes(8, "big")) << 32 | zlib.crc32(name.encode())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"name": name, "member_id": member_id, "cluster_id": cluster_id}))
    tmp.replace(path)
    return Identity(name, member_id, cluster_id)


class KVNode:
    """One kvstore member (single-member cluster for now)."""

    def __init__(
        self,
        data_dir: Path,
        name: str = "kv-1",
        *,
        snapshot_entries: int = 10_000,
        snapshot_bytes: int = 64 * 1024 * 1024,
        clock: Clock = time.monotonic,
        progress_interval: float = 10.0,
        lease_check_interval: float = 0.5,
        auto_compaction_retention: float = 0.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.member_dir = self.data_dir / "member"
        self.identity = load_identity(self.member_dir, name)
        self.term = 1
        self.store = MVCCStore()
        self.lessor = Lessor(self.store, clock)
        self.hub = WatchHub(self.store, self.header, progress_interval)
        self.snapshot_entries = snapshot_entries
        self.snapshot_bytes = snapshot_bytes
        self.lease_check_interval = lease_check_interval
        self._committer: GroupCommitter | None = None
        self._next_index = 1
        self._snap_index = 0
        self._expiry_task: asyncio.Task[None] | None = None
        self._compactor_task: asyncio.Task[None] | None = None
        self.auto_compaction_retention = auto_compaction_retention
        self._clock = clock
        self._rev_samples: deque[tuple[float, int]] = deque()
        self._closed = False
        self.ready = False
        self.snapshots_taken = 0

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Load the newest snapshot, replay the WAL after it, start serving proposals."""
        snap = await asyncio.to_thread(snapshot.load_latest, self.member_dir / "snap")
        store = MVCCStore.from_snapshot(snap) if snap is not None else MVCCStore()
        self._snap_index = store.index
        wal, entries = await asyncio.to_thread(Wal.open, self.member_dir / "wal", store.index)
        for n, entry in enumerate(entries, 1):
            try:
                store.apply(entry.index, entry.term, entry.data)
            except KVError:
                pass  # the request failed when first applied too; its client saw the error
            except Exception:
                log.exception("replaying log entry failed", extra={"entry_index": entry.index})
            if n % 2000 == 0:
                await asyncio.sleep(0)  # keep health checks answering during a long replay
        self.term = max(self.term, store.term)
        self._install(store)
        self._next_index = store.index + 1
        self._committer = GroupCommitter(wal, self._apply_committed, self._after_batch)
        self._committer.start()
        self._expiry_task = asyncio.create_task(self._expire_leases(), name="lease-expiry")
        if self.auto_compaction_retention > 0:
            self._compactor_task = asyncio.create_task(self._auto_compact(), name="auto-compaction")
        self.ready = True
        log.info("kvstore replayed", extra={
            "snapshot_index": self._snap_index, "replayed_entries": len(entries),
            "index": store.index, "revision": store.revision, "member_id": f"{self.identity.member_id:x}",
        })

    def _install(self, store: MVCCStore) -> None:
        self.store = store
        self.hub.store = store
        self.lessor.rebind(store)

    async def close(self) -> None:
        """Stop lease expiry, flush every pending proposal, close the WAL."""
        if self._closed:
            return
        self._closed = True
        self.ready = False
        for task in (self._expiry_task, self._compactor_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.hub.close_all()
        if self._committer is not None:
            await self._committer.close()
            self._committer.wal.close()

    # ------------------------------------------------------------------ proposals

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

    async def propose(self, req: internal_pb2.InternalRaftRequest) -> Message:
        """Log `req`, wait until it is durable and applied, return its response.

        Raises the request's KVError (bad lease, compacted, ...) or `stopped` /
        `storage_failed`. A client that goes away does not cancel the entry.
        """
        committer = self._committer
        if self._closed or committer is None:
            raise errors.stopped()
        if committer.failure is not None:
            raise errors.storage_failed(repr(committer.failure))
        req.ID = self._next_index
        data = req.SerializeToString()
        if len(data) > MAX_REQUEST_BYTES:
            raise errors.request_too_large()
        fut = committer.submit(Entry(self._next_index, self.term, data))
        self._next_index += 1
        try:
            result = await fut  # cancelling the caller leaves the entry in the log; apply skips its future
        except OSError as exc:
            raise errors.storage_failed(repr(exc)) from exc
        except RuntimeError as exc:  # the WAL closed under us: we are shutting down
            raise errors.stopped() from exc
        assert isinstance(result, Message)
        return result

    def _apply_committed(self, batch: Batch) -> None:
        """Apply durable entries in log order and answer their proposers."""
        store = self.store
        for entry, fut in batch:
            try:
                resp = store.apply(entry.index, entry.term, entry.data)
            except KVError as exc:
                if not fut.done():
                    fut.set_exception(exc)
                continue
            except Exception as exc:  # a bug: the store rolled the entry back; keep serving
                log.exception("applying log entry failed", extra={"entry_index": entry.index})
                if not fut.done():
                    fut.set_exception(KVError(grpc.StatusCode.INTERNAL, f"etcdserver: apply failed: {exc!r}"))
                continue
            if isinstance(resp, rpc_pb2.LeaseGrantResponse):
                self.lessor.granted(resp.ID)
            if not fut.done():
                fut.set_result(resp)
        self.hub.notify()

    async def _after_batch(self) -> None:
        committer = self._committer
        assert committer is not None
        due = self.store.index - self._snap_index >= self.snapshot_entries
        if due or committer.wal.segment_bytes >= self.snapshot_bytes:
            await self.take_snapshot()

    async def take_snapshot(self) -> None:
        """Snapshot the state, start a new WAL segment, drop segments it covers.

        Runs between two group commits, so no entry is applied meanwhile and the
        state read by the worker thread cannot change under it.
        """
        committer = self._committer
        assert committer is not None
        index = self.store.index
        if index == self._snap_index:
            return
        started = time.monotonic()
        await asyncio.to_thread(committer.wal.rotate, index + 1)
        snap = await asyncio.to_thread(self.store.to_snapshot)
        await asyncio.to_thread(snapshot.save, self.member_dir / "snap", snap)
        removed = await asyncio.to_thread(committer.wal.purge, index)
        self._snap_index = index
        self.snapshots_taken += 1
        log.info("snapshot saved", extra={
            "index": index, "revision": self.store.revision, "purged_segments": removed,
            "seconds": round(time.monotonic() - started, 3),
        })

    # ------------------------------------------------------------------ leases

    async def grant_lease(self, ttl: int, lease_id: int) -> rpc_pb2.LeaseGrantResponse:
        while lease_id == 0:
            lease_id = secrets.randbits(63)
            if lease_id in self.store.leases:
                lease_id = 0
        if lease_id in self.store.leases:
            raise errors.lease_exists()
        resp = await self.propose(internal_pb2.InternalRaftRequest(
            lease_grant=rpc_pb2.LeaseGrantRequest(ID=lease_id, TTL=ttl)))
        assert isinstance(resp, rpc_pb2.LeaseGrantResponse)
        return resp

    async def revoke_lease(self, lease_id: int) -> rpc_pb2.LeaseRevokeResponse:
        resp = await self.propose(internal_pb2.InternalRaftRequest(
            lease_revoke=rpc_pb2.LeaseRevokeRequest(ID=lease_id)))
        self.lessor.forget(lease_id)
        assert isinstance(resp, rpc_pb2.LeaseRevokeResponse)
        return resp

    async def _revoke_expired(self, lease_id: int) -> None:
        try:
            await self.revoke_lease(lease_id)
            log.debug("lease expired", extra={"lease": f"{lease_id:x}"})
        except KVError as exc:
            if exc == errors.lease_not_found():
                self.lessor.forget(lease_id)
            else:
                self.lessor.retry(lease_id)

    async def _expire_leases(self) -> None:
        """As leaseholder: turn passed deadlines into logged revokes."""
        while True:
            await asyncio.sleep(self.lease_check_interval)
            expired = self.lessor.expired()
            if expired:
                await asyncio.gather(*(self._revoke_expired(i) for i in expired))

    # ------------------------------------------------------------------ compaction

    def compaction_target(self) -> int:
        """Record the current revision; return the revision that is now `retention` old (0: none).

        Like etcd's periodic compactor: history younger than the retention is kept,
        so watchers and paginated lists resuming within it never see ErrCompacted.
        """
        now = self._clock()
        self._rev_samples.append((now, self.store.revision))
        target = 0
        while self._rev_samples and self._rev_samples[0][0] <= now - self.auto_compaction_retention:
            target = self._rev_samples.popleft()[1]
        return target if target > self.store.compact_revision else 0

    async def _auto_compact(self) -> None:
        interval = max(1.0, min(self.auto_compaction_retention / 10, 300.0))
        while True:
            await asyncio.sleep(interval)
            target = self.compaction_target()
            if target:
                try:
                    await self.propose(internal_pb2.InternalRaftRequest(
                        compaction=rpc_pb2.CompactionRequest(revision=target)))
                    log.info("auto-compacted", extra={"compact_revision": target})
                except KVError as exc:
                    log.debug("auto-compaction skipped", extra={"error": exc.message})

    # ------------------------------------------------------------------ status

    def disk_bytes(self) -> int:
        wal_bytes = self._committer.wal.disk_bytes() if self._committer is not None else 0
        return wal_bytes + snapshot.disk_bytes(self.member_dir / "snap")

    @property
    def applied_index(self) -> int:
        return self.store.index

    @property
    def wal_stats(self) -> tuple[int, int]:
        """(fsync'd batches, entries) since start: entries/batches = group-commit factor."""
        c = self._committer
        return (c.batches, c.entries) if c is not None else (0, 0)

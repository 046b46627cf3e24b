"""The member's duties around the log: leases, compaction, snapshots, membership requests, status.

Why a separate mixin: these are policies on top of the Raft loop in
`kvstore.node` (who may expire a lease, when to compact, how a member joins)
and read better apart from the loop's persistence/apply mechanics.

Leases: grants and revokes go through the log, so every member knows the same
leases. Only the leader keeps the clock: it alone expires leases (by proposing
a revoke) and answers keep-alives and time-to-live; followers forward those two
to the leader over the peer transport. A new leader gives every lease a full TTL.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from pathlib import Path

from google.protobuf.message import Message as PbMessage

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kubelite.pb.kubelite import raftpb_pb2
from kvstore import errors, snapshot
from kvstore.errors import KVError
from kvstore.leases import Clock, Lessor
from kvstore.membership import Identity, Membership, new_member_id
from kvstore.mvcc import MVCCStore
from kvstore.raft import ConfChange, ConfState, HardState, MemoryStorage
from kvstore.transport import PeerUnavailable, Transport
from kvstore.wal import Wal

log = logging.getLogger(__name__)


class Housekeeping:
    """Mixed into KVNode; relies on the attributes declared below."""

    identity: Identity
    store: MVCCStore
    lessor: Lessor
    membership: Membership
    transport: Transport
    member_dir: Path
    leader: int
    term: int
    commit_index: int
    client_urls: list[str]
    cluster_token: str
    lease_check_interval: float
    auto_compaction_retention: float
    request_timeout: float
    wal_syncs: int
    wal_entries: int
    snapshot_entries: int
    snapshot_bytes: int
    snapshot_catchup_entries: int
    snapshots_taken: int
    _clock: Clock
    _rev_samples: deque[tuple[float, int]]
    _wal: Wal | None
    _storage: MemoryStorage
    _conf: ConfState
    _hs: HardState
    _snap_index: int
    _since_snapshot: int

    # provided by KVNode
    @property
    def is_leader(self) -> bool:
        raise NotImplementedError

    async def propose(self, req: internal_pb2.InternalRaftRequest) -> PbMessage:
        raise NotImplementedError

    async def propose_conf_change(self, cc: ConfChange) -> None:
        raise NotImplementedError

    async def wait_leader(self, timeout: float) -> bool:
        raise NotImplementedError

    def header(self, revision: int | None = None) -> rpc_pb2.ResponseHeader:
        raise NotImplementedError

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
        """As leader only: turn passed deadlines into logged revokes (followers never expire)."""
        while True:
            await asyncio.sleep(self.lease_check_interval)
            if not self.is_leader:
                continue
            expired = self.lessor.expired()
            if expired:
                await asyncio.gather(*(self._revoke_expired(i) for i in expired))

    def leader_keep_alive(self, req: rpc_pb2.LeaseKeepAliveRequest) -> rpc_pb2.LeaseKeepAliveResponse:
        """Renew on the leader (the peer transport calls this for followers)."""
        if not self.is_leader:
            return rpc_pb2.LeaseKeepAliveResponse(header=self.header(), ID=req.ID, TTL=-1)
        return rpc_pb2.LeaseKeepAliveResponse(header=self.header(), ID=req.ID, TTL=self.lessor.keep_alive(req.ID))

    def leader_time_to_live(self, req: rpc_pb2.LeaseTimeToLiveRequest) -> rpc_pb2.LeaseTimeToLiveResponse:
        if not self.is_leader:
            return rpc_pb2.LeaseTimeToLiveResponse(header=self.header(), ID=req.ID, TTL=-2)
        try:
            ttl, granted, keys = self.lessor.time_to_live(req.ID, req.keys)
        except KVError:
            return rpc_pb2.LeaseTimeToLiveResponse(header=self.header(), ID=req.ID, TTL=-1)
        return rpc_pb2.LeaseTimeToLiveResponse(header=self.header(), ID=req.ID, TTL=ttl, grantedTTL=granted, keys=keys)

    async def _at_leader(self) -> int:
        deadline = asyncio.get_running_loop().time() + self.request_timeout
        while True:
            if self.is_leader:
                return 0
            if self.leader:
                return self.leader
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or not await self.wait_leader(left):
                raise errors.no_leader()

    async def keep_alive(self, lease_id: int) -> int:
        """The lease's TTL after renewing it (0 when it does not exist), answered by the leader."""
        for _ in range(3):
            lead = await self._at_leader()
            if not lead:
                return self.lessor.keep_alive(lease_id)
            try:
                resp = await self.transport.keep_alive(lead, rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))
            except PeerUnavailable:
                await asyncio.sleep(0.2)
                continue
            if resp.TTL >= 0:
                return int(resp.TTL)
            await asyncio.sleep(0.1)  # it stopped being leader meanwhile
        raise errors.no_leader()

    async def time_to_live(self, lease_id: int, with_keys: bool) -> rpc_pb2.LeaseTimeToLiveResponse:
        req = rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id, keys=with_keys)
        for _ in range(3):
            lead = await self._at_leader()
            if not lead:
                return self.leader_time_to_live(req)
            try:
                resp = await self.transport.time_to_live(lead, req)
            except PeerUnavailable:
                await asyncio.sleep(0.2)
                continue
            if resp.TTL != -2:
                resp.header.CopyFrom(self.header())
                return resp
            await asyncio.sleep(0.1)
        raise errors.no_leader()

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
            if target and self.is_leader:  # one member proposes; the log carries it to all
                try:
                    await self.propose(internal_pb2.InternalRaftRequest(
                        compaction=rpc_pb2.CompactionRequest(revision=target)))
                    log.info("auto-compacted", extra={"compact_revision": target})
                except KVError as exc:
                    log.debug("auto-compaction skipped", extra={"error": exc.message})

    # ------------------------------------------------------------------ membership

    def members_response(self) -> raftpb_pb2.MembersResponse:
        return raftpb_pb2.MembersResponse(
            cluster_id=self.identity.cluster_id, leader=self.leader, members=self.membership.sorted())

    async def member_add(self, peer_urls: list[str], is_learner: bool) -> rpc_pb2.Member:
        if is_learner:
            raise errors.learner_not_supported()
        if not peer_urls:
            raise KVError(errors._IA, "etcdserver: member peer URLs are required")
        if any(self.membership.has_peer_url(u) for u in peer_urls):
            raise errors.peer_url_exists()
        member = rpc_pb2.Member(ID=new_member_id(peer_urls, self.cluster_token), peerURLs=peer_urls)
        await self.propose_conf_change(ConfChange("add", member.ID, member.SerializeToString()))
        return member

    async def member_remove(self, member_id: int) -> None:
        if member_id not in self.membership.members:
            raise errors.member_not_found()
        await self.propose_conf_change(ConfChange("remove", member_id))

    async def _publish(self) -> None:
        """Put this member's name and client URLs into the replicated member table (etcd: publish)."""
        me = self.identity.member_id
        while True:
            current = self.membership.members.get(me)
            if current is not None and list(current.clientURLs) == self.client_urls and current.name:
                return
            if current is None and me not in self.membership.removed:
                await asyncio.sleep(0.2)  # a joining member learns the table from the leader first
                continue
            if me in self.membership.removed:
                return
            try:
                await self.propose(internal_pb2.InternalRaftRequest(member_attributes=rpc_pb2.Member(
                    ID=me, name=self.identity.name, clientURLs=self.client_urls)))
                return
            except KVError as exc:
                log.debug("publishing member attributes failed; retrying", extra={"error": exc.message})
                await asyncio.sleep(0.5)

    # ------------------------------------------------------------------ snapshots (bound WAL size and restart time)

    def snapshot_payload(self) -> internal_pb2.KVStoreSnapshot:
        snap = self.store.to_snapshot()
        snap.members.extend(self.membership.sorted())
        snap.voters.extend(self._conf.voters)
        return snap

    async def _maybe_snapshot(self) -> None:
        wal = self._wal
        assert wal is not None
        due = self._since_snapshot >= self.snapshot_entries
        if due or (wal.segment_bytes >= self.snapshot_bytes and self.store.index > self._snap_index):
            await self.take_snapshot()

    async def take_snapshot(self) -> None:
        """Snapshot the state, hand it to Raft, start a WAL segment, drop what the snapshot covers.

        Runs inside the loop task, so no entry is applied meanwhile and the state
        read by the worker thread cannot change under it.
        """
        wal = self._wal
        assert wal is not None
        index = self.store.index
        if index <= self._snap_index:
            return
        started = time.monotonic()
        snap_pb = await asyncio.to_thread(self.snapshot_payload)
        data = await asyncio.to_thread(snap_pb.SerializeToString)
        await asyncio.to_thread(snapshot.save_bytes, self.member_dir / "snap", index, data)
        self._storage.create_snapshot(index, self._conf, data)
        compact_to = index - self.snapshot_catchup_entries
        if compact_to > self._storage.first_index():
            self._storage.compact(compact_to)
        await asyncio.to_thread(wal.rotate, self._hs)
        removed = await asyncio.to_thread(wal.purge, index)
        self._snap_index = index
        self._since_snapshot = 0
        self.snapshots_taken += 1
        log.info("snapshot saved", extra={
            "index": index, "revision": self.store.revision, "purged_segments": removed,
            "seconds": round(time.monotonic() - started, 3),
        })

    # ------------------------------------------------------------------ status

    def disk_bytes(self) -> int:
        wal_bytes = self._wal.disk_bytes() if self._wal is not None else 0
        return wal_bytes + snapshot.disk_bytes(self.member_dir / "snap")

    @property
    def applied_index(self) -> int:
        return self.store.index

    @property
    def wal_stats(self) -> tuple[int, int]:
        """(fsync'd WAL writes, entries) since start: entries/writes = group-commit factor."""
        return self.wal_syncs, self.wal_entries

"""Lease and membership requests of one member: the async side of leases and the member table.

Why separate from the Raft loop (`kvstore.node`): these are request policies on
top of proposing (who may expire a lease, how keep-alives reach the leader, how a
member joins and publishes itself); they only propose and wait, never touch the log.

Leases: grants and revokes go through the log, so every member knows the same
leases. Only the leader keeps the clock: it alone expires leases (by proposing
a revoke) and answers keep-alives and time-to-live; followers forward those two
to the leader over the peer transport. A new leader gives every lease a full TTL
(the member core refreshes the lessor when it becomes leader).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import TYPE_CHECKING

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kubelite.pb.kubelite import raftpb_pb2
from kvstore import errors
from kvstore.errors import KVError
from kvstore.membership import new_member_id
from kvstore.raft import ConfChange
from kvstore.transport import PeerUnavailable

if TYPE_CHECKING:
    from kvstore.node import KVNode

log = logging.getLogger(__name__)


class LeaseOps:
    """Grant/revoke through the log; expiry, keep-alive and time-to-live at the leader."""

    def __init__(self, node: KVNode) -> None:
        self.node = node

    async def grant(self, ttl: int, lease_id: int) -> rpc_pb2.LeaseGrantResponse:
        store = self.node.store
        while lease_id == 0:
            lease_id = secrets.randbits(63)
            if lease_id in store.leases:
                lease_id = 0
        if lease_id in store.leases:
            raise errors.lease_exists()
        resp = await self.node.propose(internal_pb2.InternalRaftRequest(
            lease_grant=rpc_pb2.LeaseGrantRequest(ID=lease_id, TTL=ttl)))
        assert isinstance(resp, rpc_pb2.LeaseGrantResponse)
        return resp

    async def revoke(self, lease_id: int) -> rpc_pb2.LeaseRevokeResponse:
        resp = await self.node.propose(internal_pb2.InternalRaftRequest(
            lease_revoke=rpc_pb2.LeaseRevokeRequest(ID=lease_id)))
        assert isinstance(resp, rpc_pb2.LeaseRevokeResponse)
        return resp

    async def _revoke_expired(self, lease_id: int) -> None:
        try:
            await self.revoke(lease_id)
            log.debug("lease expired", extra={"lease": f"{lease_id:x}"})
        except KVError as exc:
            if exc == errors.lease_not_found():
                self.node.lessor.forget(lease_id)
            else:
                self.node.lessor.retry(lease_id)

    async def expire_loop(self, interval: float) -> None:
        """As leader only: turn passed deadlines into logged revokes (followers never expire).

        Why it sleeps until the earliest deadline: a check every `interval` (etcd's 500 ms) on
        every member was two wake-ups a second per member for nothing on an idle cluster. It
        still checks at most once per `interval` (a burst of expiries is revoked in paced
        batches), and wakes early when the lessor reports an earlier deadline
        (`Lessor.on_sooner`: a grant, a failed revoke, or every lease refreshed because this
        member became leader). A follower, or a leader without leases, waits for that only."""
        node, lessor, loop = self.node, self.node.lessor, asyncio.get_running_loop()
        sooner = asyncio.Event()
        lessor.on_sooner = sooner.set
        last = -interval
        while True:
            sooner.clear()
            until = lessor.until_next() if node.is_leader else None
            if until is None:
                await sooner.wait()
                continue
            delay = max(until, last + interval - loop.time())
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await sooner.wait()
                        continue  # an earlier deadline: wait for that one instead
            if not node.is_leader:
                continue
            last = loop.time()
            expired = lessor.expired()
            if expired:
                await asyncio.gather(*(self._revoke_expired(i) for i in expired))

    def leader_keep_alive(self, req: rpc_pb2.LeaseKeepAliveRequest) -> rpc_pb2.LeaseKeepAliveResponse:
        """Renew on the leader (the peer transport calls this for followers)."""
        node = self.node
        if not node.is_leader:
            return rpc_pb2.LeaseKeepAliveResponse(header=node.header(), ID=req.ID, TTL=-1)
        return rpc_pb2.LeaseKeepAliveResponse(header=node.header(), ID=req.ID, TTL=node.lessor.keep_alive(req.ID))

    def leader_time_to_live(self, req: rpc_pb2.LeaseTimeToLiveRequest) -> rpc_pb2.LeaseTimeToLiveResponse:
        node = self.node
        if not node.is_leader:
            return rpc_pb2.LeaseTimeToLiveResponse(header=node.header(), ID=req.ID, TTL=-2)
        try:
            ttl, granted, keys = node.lessor.time_to_live(req.ID, req.keys)
        except KVError:
            return rpc_pb2.LeaseTimeToLiveResponse(header=node.header(), ID=req.ID, TTL=-1)
        return rpc_pb2.LeaseTimeToLiveResponse(header=node.header(), ID=req.ID, TTL=ttl, grantedTTL=granted, keys=keys)

    async def _at_leader(self) -> int:
        node = self.node
        deadline = asyncio.get_running_loop().time() + node.request_timeout
        while True:
            if node.is_leader:
                return 0
            if node.leader:
                return node.leader
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or not await node.wait_leader(left):
                raise errors.no_leader()

    async def keep_alive(self, lease_id: int) -> int:
        """The lease's TTL after renewing it (0 when it does not exist), answered by the leader."""
        for _ in range(3):
            lead = await self._at_leader()
            if not lead:
                return self.node.lessor.keep_alive(lease_id)
            try:
                resp = await self.node.transport.keep_alive(lead, rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))
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
                resp = await self.node.transport.time_to_live(lead, req)
            except PeerUnavailable:
                await asyncio.sleep(0.2)
                continue
            if resp.TTL != -2:
                resp.header.CopyFrom(self.node.header())
                return resp
            await asyncio.sleep(0.1)
        raise errors.no_leader()


class MemberOps:
    """Member list, add/remove through conf changes, publishing this member's attributes."""

    def __init__(self, node: KVNode) -> None:
        self.node = node

    def members_response(self) -> raftpb_pb2.MembersResponse:
        node = self.node
        return raftpb_pb2.MembersResponse(
            cluster_id=node.identity.cluster_id, leader=node.leader, members=node.membership.sorted())

    async def add(self, peer_urls: list[str], is_learner: bool) -> rpc_pb2.Member:
        if is_learner:
            raise errors.learner_not_supported()
        if not peer_urls:
            raise KVError(errors._IA, "etcdserver: member peer URLs are required")
        if any(self.node.membership.has_peer_url(u) for u in peer_urls):
            raise errors.peer_url_exists()
        member = rpc_pb2.Member(ID=new_member_id(peer_urls, self.node.cluster_token), peerURLs=peer_urls)
        await self.node.propose_conf_change(ConfChange("add", member.ID, member.SerializeToString()))
        return member

    async def remove(self, member_id: int) -> None:
        if member_id not in self.node.membership.members:
            raise errors.member_not_found()
        await self.node.propose_conf_change(ConfChange("remove", member_id))

    async def publish(self) -> None:
        """Put this member's name and client URLs into the replicated member table (etcd: publish)."""
        node = self.node
        me = node.identity.member_id
        while True:
            current = node.membership.members.get(me)
            if current is not None and list(current.clientURLs) == node.client_urls and current.name:
                return
            if current is None and me not in node.membership.removed:
                await asyncio.sleep(0.2)  # a joining member learns the table from the leader first
                continue
            if me in node.membership.removed:
                return
            try:
                await node.propose(internal_pb2.InternalRaftRequest(member_attributes=rpc_pb2.Member(
                    ID=me, name=node.identity.name, clientURLs=node.client_urls)))
                return
            except KVError as exc:
                log.debug("publishing member attributes failed; retrying", extra={"error": exc.message})
                await asyncio.sleep(0.5)


async def auto_compact(node: KVNode) -> None:
    """Periodically compact history older than the retention (`kvstore.compaction`)."""
    while True:
        await asyncio.sleep(node.compactor.interval())
        target = node.compaction_target()
        if target and node.is_leader:  # one member proposes; the log carries it to all
            try:
                await node.propose(internal_pb2.InternalRaftRequest(
                    compaction=rpc_pb2.CompactionRequest(revision=target)))
                log.info("auto-compacted", extra={"compact_revision": target})
            except KVError as exc:
                log.debug("auto-compaction skipped", extra={"error": exc.message})

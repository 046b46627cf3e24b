"""Read-only views of the member core's state, and the lease and member requests, as the
node's users (services, the peer transport) call them.

Why mixins: the core owns this state (`kvstore.member_core.MemberCore`) and
`kvstore.cluster_ops` the request policies; the node only exposes them, and keeping
the one-line accessors here keeps `kvstore.node` about its loop.
"""

from __future__ import annotations

from kubelite.pb.etcd import rpc_pb2
from kubelite.pb.kubelite import raftpb_pb2
from kvstore.cluster_ops import LeaseOps, MemberOps
from kvstore.leases import Lessor
from kvstore.member_core import MemberCore
from kvstore.membership import Membership
from kvstore.mvcc import MVCCStore


class CoreView:
    """Properties over `self.core`."""

    core: MemberCore

    @property
    def is_leader(self) -> bool:
        return self.core.is_leader

    @property
    def store(self) -> MVCCStore:
        return self.core.store

    @property
    def membership(self) -> Membership:
        return self.core.membership

    @property
    def lessor(self) -> Lessor:
        return self.core.lessor

    @property
    def term(self) -> int:
        return self.core.term

    @property
    def leader(self) -> int:
        return self.core.leader

    @property
    def role(self) -> str:
        return self.core.role

    @property
    def commit_index(self) -> int:
        return self.core.commit_index

    @property
    def applied_index(self) -> int:
        return self.store.index

    @property
    def _snap_index(self) -> int:
        """Index of the newest snapshot, taken here or installed from the leader."""
        return self.core.policy.index

    @property
    def snapshots_taken(self) -> int:
        return self.core.policy.taken


class OpsView:
    """Lease and member requests, answered by `self.leases` and `self.members`."""

    leases: LeaseOps
    members: MemberOps

    async def grant_lease(self, ttl: int, lease_id: int) -> rpc_pb2.LeaseGrantResponse:
        return await self.leases.grant(ttl, lease_id)

    async def revoke_lease(self, lease_id: int) -> rpc_pb2.LeaseRevokeResponse:
        return await self.leases.revoke(lease_id)

    async def keep_alive(self, lease_id: int) -> int:
        return await self.leases.keep_alive(lease_id)

    async def time_to_live(self, lease_id: int, with_keys: bool) -> rpc_pb2.LeaseTimeToLiveResponse:
        return await self.leases.time_to_live(lease_id, with_keys)

    def leader_keep_alive(self, req: rpc_pb2.LeaseKeepAliveRequest) -> rpc_pb2.LeaseKeepAliveResponse:
        return self.leases.leader_keep_alive(req)

    def leader_time_to_live(self, req: rpc_pb2.LeaseTimeToLiveRequest) -> rpc_pb2.LeaseTimeToLiveResponse:
        return self.leases.leader_time_to_live(req)

    def members_response(self) -> raftpb_pb2.MembersResponse:
        return self.members.members_response()

    async def member_add(self, peer_urls: list[str], is_learner: bool) -> rpc_pb2.Member:
        return await self.members.add(peer_urls, is_learner)

    async def member_remove(self, member_id: int) -> None:
        await self.members.remove(member_id)

"""Lease traffic and lease expiry, driven by the simulator's step counter.

Why: expiry is the one decision in the member that depends on time, and it lives outside the
replicated state machine (`kvstore.leases.Lessor`, fed by the member core's apply). Here the
step counter is every member's clock: leases are granted through the log with TTLs of a few
dozen steps, kept alive now and then at the current leader, and every member that believes it
leads turns passed deadlines into logged revokes, as `kvstore.cluster_ops.LeaseOps` does. The
checker then demands that no lease is expired before it lived its TTL (`on_lease_revoked`).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from kubelite.pb.etcd import internal_pb2, rpc_pb2
from kvstore.raft.errors import ProposalDropped

if TYPE_CHECKING:
    from tests.sim.cluster import Cluster

_REQ_SPACE = 1 << 48
"""Request ids of lease traffic: above every simulated client's (client id << 32 | seq)."""


class LeaseWorkload:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seq = 0
        self.leases: list[int] = []
        self.granted = 0
        self.expired = 0

    def _req_id(self) -> int:
        self.seq += 1
        return _REQ_SPACE | self.seq

    def act(self, c: Cluster) -> None:
        rng = self.rng
        if rng.random() < 0.04:
            node = c.pick_node()
            if node is not None and node.raw is not None:
                lease_id = rng.getrandbits(62) + 1
                req = internal_pb2.InternalRaftRequest(
                    ID=self._req_id(), lease_grant=rpc_pb2.LeaseGrantRequest(ID=lease_id, TTL=rng.randint(5, 40)))
                try:
                    node.raw.propose(req.SerializeToString())
                    self.leases.append(lease_id)
                    self.granted += 1
                except ProposalDropped:
                    pass
        lead = c.leader()
        if self.leases and lead is not None and lead.core is not None and rng.random() < 0.15:
            lead.core.lessor.keep_alive(rng.choice(self.leases))
        for n in c.alive():
            if n.core is None or n.raw is None or n.paused_until or n.removed or not n.core.is_leader:
                continue
            for lease_id in n.core.lessor.expired(now=c.step):
                req = internal_pb2.InternalRaftRequest(
                    ID=self._req_id(), lease_revoke=rpc_pb2.LeaseRevokeRequest(ID=lease_id))
                try:
                    n.raw.propose(req.SerializeToString())
                except ProposalDropped:
                    n.core.lessor.retry(lease_id)
                    continue
                c.checker.on_expiry_proposed(req.ID, lease_id, n.id)
                self.expired += 1

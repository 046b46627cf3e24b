"""Read-only views of the member core's state, as the node's users (services, ops) read them.

Why a mixin: the core owns this state (`kvstore.member_core.MemberCore`); the node
only exposes it, and keeping the one-line accessors here keeps `kvstore.node` about
its loop.
"""

from __future__ import annotations

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

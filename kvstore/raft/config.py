"""Config of one Raft member (what etcd raft calls raft.Config).

Why injected rng: the election timeout must be random to break split votes, but the
simulator needs one seed -> one exact run, so randomness comes only from here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kvstore.raft.storage import MemoryStorage


@dataclass(kw_only=True)
class Config:
    id: int
    storage: MemoryStorage
    election_tick: int = 10
    """Ticks without a leader contact before a follower campaigns (randomised in [e, 2e))."""
    heartbeat_tick: int = 1
    applied: int = 0
    """Last index the app has applied (on restart); committed entries start after it."""
    max_size_per_msg: int = 1 << 20
    max_inflight_msgs: int = 256
    check_quorum: bool = True
    pre_vote: bool = True
    rng: random.Random | None = None
    """Seeded source for the election timeout; None -> random.Random(id) (deterministic)."""
    max_committed_size_per_ready: int = 0
    """Cap on committed entry bytes per Ready (0 = unlimited); at least one entry is given."""

    def validate(self) -> None:
        if self.id == 0:
            raise ValueError("raft: id 0 is reserved for 'none'")
        if self.heartbeat_tick <= 0:
            raise ValueError("raft: heartbeat_tick must be > 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("raft: election_tick must be greater than heartbeat_tick")
        if self.max_inflight_msgs <= 0:
            raise ValueError("raft: max_inflight_msgs must be > 0")

"""The values that cross the boundary of the Raft core: messages, entries, state.

Why plain frozen dataclasses: the core is a pure function of its inputs, so the
values it exchanges with the node layer, the simulator and the transport must
be immutable (a message can sit in several simulated queues at once) and cheap
to build (thousands of proposals per second). Encoding to bytes for the wire
or the WAL is the node layer's job; only `ConfChange` has a codec here because
it travels *inside* log entries.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

NONE = 0
"""Node id 0 means "nobody" (no vote, no leader)."""


class MsgType(IntEnum):
    """Every message kind the core understands. HUP, BEAT, PROP (from the app),
    UNREACHABLE, SNAP_STATUS, TRANSFER_LEADER, READ_INDEX and CHECK_QUORUM can
    be local; the rest travel between members."""

    HUP = 0
    BEAT = 1
    PROP = 2
    APP = 3
    APP_RESP = 4
    VOTE = 5
    VOTE_RESP = 6
    PRE_VOTE = 7
    PRE_VOTE_RESP = 8
    SNAP = 9
    SNAP_STATUS = 10
    HEARTBEAT = 11
    HEARTBEAT_RESP = 12
    UNREACHABLE = 13
    TRANSFER_LEADER = 14
    TIMEOUT_NOW = 15
    READ_INDEX = 16
    READ_INDEX_RESP = 17
    CHECK_QUORUM = 18


LOCAL_MSGS = frozenset({MsgType.HUP, MsgType.BEAT, MsgType.UNREACHABLE, MsgType.SNAP_STATUS,
                        MsgType.CHECK_QUORUM})
"""Types that only the local node may inject; `RawNode.step` refuses them."""

RESPONSE_MSGS = frozenset({MsgType.APP_RESP, MsgType.VOTE_RESP, MsgType.PRE_VOTE_RESP,
                           MsgType.HEARTBEAT_RESP, MsgType.UNREACHABLE})
"""Responses; dropped by `RawNode.step` when they come from an unknown member."""


class EntryType(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One log slot. An entry with empty data and type NORMAL is the no-op a new
    leader appends to commit entries of earlier terms."""

    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


ConfChangeType = Literal["add", "remove", "bootstrap"]

_CC_HEAD = struct.Struct(">BQ")
_VOTER = struct.Struct(">Q")
_CC_KINDS: tuple[ConfChangeType, ...] = ("add", "remove", "bootstrap")
"""Wire codes of the change types: their index in this tuple (0 and 1 predate bootstrap)."""


@dataclass(frozen=True, slots=True)
class ConfChange:
    """Add or remove one voter, or ("bootstrap") install a new cluster's whole first
    configuration at once. `context` is opaque to Raft for add/remove (the node layer
    puts the member's name/peer URL there); for bootstrap it holds the voter ids.

    Why bootstrap is one entry and not one "add" per member: a member that replays (or
    receives) only a prefix of per-member adds would hold a configuration the cluster
    never had, e.g. {1} alone, win an election by itself and commit a second entry at
    an index already committed (issue 11). One entry is applied whole or not at all.
    """

    type: ConfChangeType
    node_id: int
    context: bytes = b""

    @staticmethod
    def initial(voters: list[int]) -> ConfChange:
        """The bootstrap change that makes `voters` the first configuration."""
        ids = sorted(set(voters))
        return ConfChange("bootstrap", 0, b"".join(_VOTER.pack(v) for v in ids))

    def initial_voters(self) -> tuple[int, ...]:
        """The voters a bootstrap change installs (empty for add/remove)."""
        if self.type != "bootstrap":
            return ()
        data = self.context
        return tuple(_VOTER.unpack_from(data, i)[0] for i in range(0, len(data) - len(data) % 8, 8))

    def encode(self) -> bytes:
        """Bytes stored as the data of a CONF_CHANGE entry: type byte, u64 id, context."""
        return _CC_HEAD.pack(_CC_KINDS.index(self.type), self.node_id) + self.context

    @staticmethod
    def decode(data: bytes) -> ConfChange:
        if len(data) < _CC_HEAD.size:
            raise ValueError("conf change too short")
        kind, node_id = _CC_HEAD.unpack_from(data)
        if kind >= len(_CC_KINDS):
            raise ValueError(f"unknown conf change type {kind}")
        context = bytes(data[_CC_HEAD.size:])
        if _CC_KINDS[kind] == "bootstrap" and (not context or len(context) % _VOTER.size):
            raise ValueError("bootstrap conf change without a whole voter list")
        return ConfChange(_CC_KINDS[kind], node_id, context)


@dataclass(frozen=True, slots=True)
class ConfState:
    """The voters of a configuration, sorted."""

    voters: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int
    term: int
    conf_state: ConfState


@dataclass(frozen=True, slots=True)
class Snapshot:
    meta: SnapshotMeta
    data: bytes


EMPTY_SNAPSHOT = Snapshot(SnapshotMeta(0, 0, ConfState(())), b"")


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before any message of the same Ready is sent."""

    term: int = 0
    vote: int = 0
    commit: int = 0


EMPTY_HARD_STATE = HardState()


@dataclass(frozen=True, slots=True)
class Message:
    """One Raft message. Field use per type (as in etcd raft):
    APP: index/log_term = the entry before `entries`; commit = leader's commit.
    APP_RESP: index = last index accepted (or the rejected index when `reject`);
      reject_hint/log_term = follower's best guess (index, term) for fast back-off.
    VOTE/PRE_VOTE: index/log_term = candidate's last entry; context=b"transfer" for a
      leadership-transfer campaign (bypasses the lease guard).
    APP with context=COMMIT_NOTICE and no entries: a commit notice, not answered when accepted.
    HEARTBEAT: commit, context (ReadIndex round id); HEARTBEAT_RESP echoes context.
    READ_INDEX: context = request ctx; READ_INDEX_RESP: index + context.
    TRANSFER_LEADER: frm = the transferee. SNAP_STATUS: reject = snapshot failed.
    """

    type: MsgType
    to: int
    frm: int
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: bytes = b""


COMMIT_NOTICE = b"commit"
"""Context of an entry-less append that only tells a replicating follower the commit index."""


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read may be served once the applied index reaches `index`."""

    index: int
    request_ctx: bytes


Role = Literal["follower", "pre_candidate", "candidate", "leader"]


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state the app may want to observe (not persisted)."""

    leader: int
    role: Role


@dataclass(slots=True)
class Ready:
    """Everything the app must do, in order: persist snapshot + entries + hard_state,
    send messages, apply committed_entries (and serve read_states), then advance(rd)."""

    hard_state: HardState | None
    entries: list[Entry]
    snapshot: Snapshot | None
    committed_entries: list[Entry]
    messages: list[Message]
    read_states: list[ReadState]
    soft_state: SoftState | None
    must_sync: bool = False
    """True when entries or a term/vote change must be fsync'd (a commit-only change need not)."""


ProgressStateName = Literal["probe", "replicate", "snapshot"]


@dataclass(frozen=True, slots=True)
class ProgressStatus:
    """A leader's view of one peer, for Status (copied, so callers cannot mutate the core)."""

    match: int
    next: int
    state: ProgressStateName
    recent_active: bool
    paused: bool
    pending_snapshot: int
    inflight: int


@dataclass(frozen=True, slots=True)
class Status:
    id: int
    term: int
    lead: int
    role: Role
    commit: int
    applied: int
    progress: dict[int, ProgressStatus] = field(default_factory=dict)
    vote: int = 0
    voters: tuple[int, ...] = ()
    lead_transferee: int = 0

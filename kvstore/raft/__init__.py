"""kvstore.raft: a pure, deterministic Raft core (the design of etcd raft, written anew).

No asyncio, sockets, clocks, disk or global random inside: the node layer
(kvstore/node.py) and the simulator (tests/sim) drive `RawNode` with ticks and
messages and act on its `Ready` batches. Modules: `types` (values), `storage`
(the persisted log as the core reads it), `log` (+ unstable tail), `progress`
and `quorum` (leader bookkeeping, pure), `readonly` (ReadIndex), `core` (the
state machine), `node` (RawNode + Ready/advance), `errors`.
"""

from kvstore.raft.config import Config
from kvstore.raft.errors import (
    Compacted,
    ProposalDropped,
    RaftError,
    SnapshotOutOfDate,
    SnapshotTemporarilyUnavailable,
    StepLocalMsg,
    Unavailable,
)
from kvstore.raft.node import RawNode
from kvstore.raft.storage import MemoryStorage
from kvstore.raft.types import (
    NONE,
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MsgType,
    ProgressStatus,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SnapshotMeta,
    SoftState,
    Status,
)

__all__ = [
    "NONE", "Compacted", "Config", "ConfChange", "ConfState", "Entry", "EntryType", "HardState",
    "MemoryStorage", "Message", "MsgType", "ProgressStatus", "ProposalDropped", "RaftError", "RawNode",
    "ReadState", "Ready", "Role", "Snapshot", "SnapshotMeta", "SnapshotOutOfDate",
    "SnapshotTemporarilyUnavailable", "SoftState", "Status", "StepLocalMsg", "Unavailable",
]

"""Errors the Raft core raises to its caller (the node layer).

Why exceptions and not silent drops: a proposal that cannot be placed in the
log must fail fast so the client is told to retry elsewhere instead of waiting
for a commit that never comes.
"""

from __future__ import annotations


class RaftError(Exception):
    """Base of every error raised by kvstore.raft."""


class ProposalDropped(RaftError):
    """The proposal was not appended: no leader is known, a leadership transfer
    is in flight, this member was removed, or a conf change is already pending."""


class StepLocalMsg(RaftError):
    """A local-only message type (HUP, BEAT, ...) was handed to `RawNode.step`."""


class Compacted(RaftError):
    """The requested index is older than the storage's first index (compacted away)."""


class Unavailable(RaftError):
    """The requested index is beyond the storage's last index."""


class SnapshotOutOfDate(RaftError):
    """The snapshot to apply or create is older than the one storage already has."""


class SnapshotTemporarilyUnavailable(RaftError):
    """Storage cannot produce a snapshot right now; the leader retries later."""

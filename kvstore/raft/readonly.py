"""ReadIndex bookkeeping on the leader: which read requests wait for a heartbeat quorum.

Why: a leader may have been deposed without knowing it. Before answering a
linearizable read at its commit index it confirms leadership by collecting
heartbeat acks from a majority, tagged with the request's context, and only
then releases that request and every request queued before it.

A follower's own READ_INDEX carries its term and counts as its ack: it was sent
after the read reached that follower, by a member still in the leader's term, which
is all a heartbeat ack proves (every acker was in this term at some moment after the
read began, so no majority had yet elected a newer leader that could have committed
a write the read must see). In a 3-member cluster the requester and the leader are
already a majority, so the round needs no heartbeats: one round trip instead of two,
and two peer messages instead of six. A READ_INDEX relayed for another member (term
0) proves nothing about that member and waits for heartbeats as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kvstore.raft import quorum
from kvstore.raft.types import NONE, Message, MsgType, ReadState

if TYPE_CHECKING:
    from kvstore.raft.core import Raft


@dataclass(slots=True)
class ReadIndexStatus:
    req: Message
    index: int
    acks: set[int] = field(default_factory=set)


class ReadOnly:
    """Pending ReadIndex requests in arrival order, keyed by their unique context."""

    def __init__(self) -> None:
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []

    def add_request(self, index: int, req: Message) -> bool:
        """Queue a request read at `index`; False if its context is already pending."""
        ctx = req.context
        if ctx in self.pending:
            return False
        self.pending[ctx] = ReadIndexStatus(req, index)
        self.queue.append(ctx)
        return True

    def recv_ack(self, node: int, ctx: bytes) -> set[int] | None:
        """Record a heartbeat ack for ctx; returns the ack set (None if unknown ctx)."""
        rs = self.pending.get(ctx)
        if rs is None:
            return None
        rs.acks.add(node)
        return rs.acks

    def advance(self, ctx: bytes) -> list[ReadIndexStatus]:
        """Release ctx and all requests queued before it (a later ack confirms earlier ones)."""
        if ctx not in self.pending:
            return []
        i = self.queue.index(ctx)
        done = self.queue[: i + 1]
        del self.queue[: i + 1]
        return [self.pending.pop(c) for c in done]

    def last_pending_ctx(self) -> bytes:
        return self.queue[-1] if self.queue else b""


# ----------------------------------------------------------------- the leader's side of ReadIndex
def leader_read_index(r: Raft, m: Message) -> None:
    """A READ_INDEX reached the leader (from its app or forwarded by a follower)."""
    if len(r.voters) == 1:
        respond(r, m, r.log.committed)
        return
    if not committed_entry_in_current_term(r):
        # Until our no-op commits, our commit index may lag the previous leader's: answer later.
        r.pending_read_index.append(m)
        return
    _start(r, m)


def _start(r: Raft, m: Message) -> None:
    if r.read_only.add_request(r.log.committed, m):
        acks = r.read_only.recv_ack(r.id, m.context)
        if m.term == r.term and m.frm != r.id:
            acks = r.read_only.recv_ack(m.frm, m.context)  # the requester's own (see module doc)
        if acks is not None and quorum.has_quorum(r.voters, acks):
            for rs in r.read_only.advance(m.context):
                respond(r, rs.req, rs.index)
            return
        r.bcast_heartbeat(m.context)


def committed_entry_in_current_term(r: Raft) -> bool:
    return r.log.zero_term(r.log.committed) == r.term


def release_pending(r: Raft) -> None:
    """Start the requests that waited for the first commit of this term."""
    if not r.pending_read_index or not committed_entry_in_current_term(r):
        return
    pending, r.pending_read_index = r.pending_read_index, []
    for m in pending:
        if len(r.voters) == 1:
            respond(r, m, r.log.committed)
        else:
            _start(r, m)


def respond(r: Raft, req: Message, index: int) -> None:
    """Local requests become ReadStates; a follower's gets a READ_INDEX_RESP."""
    if req.frm in (NONE, r.id):
        r.read_states.append(ReadState(index, req.context))
    else:
        r.send(Message(MsgType.READ_INDEX_RESP, to=req.frm, frm=r.id, term=r.term, index=index,
                       context=req.context))

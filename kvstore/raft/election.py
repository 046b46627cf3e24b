"""Elections: starting a (pre-)campaign, counting votes, answering vote requests.

Why apart from `core.py`: these are the rules Raft's safety rests on (§5.2, §5.4.1, and
the pre-vote extension), so they read best together; like `membership.py` they are
functions over a `Raft` that only change its state and queue messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.raft import membership, quorum
from kvstore.raft.types import NONE, Message, MsgType

if TYPE_CHECKING:
    from kvstore.raft.core import Raft

HANDOFF_WAIT_TICKS = 3
"""How long a hand-off waits for the entry it names before campaigning without it (`timeout_now`)."""
TRANSFER_CTX = b"transfer"
"""Context of a vote request sent because of TIMEOUT_NOW: voters skip the lease guard."""

_M = MsgType


def hup(r: Raft, transfer: bool) -> None:
    """Campaign if this member may: a voter, not leader, with its configuration applied."""
    if r.role == "leader" or not r.promotable():
        return
    if membership.has_unapplied_conf_change(r.log):
        return  # must not campaign under a configuration it has not applied yet
    if r.pre_vote and not transfer:
        campaign(r, pre=True, transfer=False)
    else:
        campaign(r, pre=False, transfer=transfer)


def timeout_now(r: Raft, m: Message) -> None:
    """The leader asks us to campaign at once (a transfer, or a hand-off by a leader whose disk
    failed). A hand-off names the last entry the leader sent us (`index`, `log_term`): the leader
    sends appends before its own fsync, so another follower may already hold entries that have
    not reached us yet (a reordered link), and campaigning without them would only lose the vote
    of that follower and leave the cluster leaderless for an election timeout. So we campaign
    once we hold that entry (`deferred_hup`, on the append that brings it), or after
    HANDOFF_WAIT_TICKS without it: the append may have been lost or refused (reordered after
    a later one), and then no follower may hold it."""
    if m.index == 0 or r.log.match_term(m.index, m.log_term):
        r.pending_timeout_now = None
        hup(r, transfer=True)
    else:
        r.pending_timeout_now = (m.index, m.log_term, HANDOFF_WAIT_TICKS)


def deferred_hup(r: Raft) -> None:
    """Campaign for a hand-off that waited for its entries (`timeout_now`) once they are here."""
    pending = r.pending_timeout_now
    if pending is not None and r.log.match_term(pending[0], pending[1]):
        r.pending_timeout_now = None
        hup(r, transfer=True)


def tick_timeout_now(r: Raft) -> None:
    """One tick of a hand-off waiting for its entry: campaign without it once the wait is over."""
    pending = r.pending_timeout_now
    if pending is not None:
        index, term, ticks = pending
        if ticks > 1:
            r.pending_timeout_now = (index, term, ticks - 1)
        else:
            r.pending_timeout_now = None
            hup(r, transfer=True)


def campaign(r: Raft, pre: bool, transfer: bool) -> None:
    if pre:
        r.become_pre_candidate()
        vote_type, term = _M.PRE_VOTE, r.term + 1
    else:
        r.become_candidate()
        vote_type, term = _M.VOTE, r.term
    if poll(r, r.id, True) == quorum.VoteResult.WON:
        # A single-voter configuration wins at once.
        if pre:
            campaign(r, pre=False, transfer=transfer)
        else:
            r.become_leader()
        return
    ctx = TRANSFER_CTX if transfer else b""
    li, lt = r.log.last_index(), r.log.last_term()
    for v in r.voters:
        if v != r.id:
            r.send(Message(vote_type, to=v, frm=r.id, term=term, index=li, log_term=lt, context=ctx))


def poll(r: Raft, node: int, granted: bool) -> quorum.VoteResult:
    """Record `node`'s answer (its first counts) and tell whether the election is decided."""
    r.votes.setdefault(node, granted)
    return quorum.vote_result(r.voters, r.votes)


def answer_vote(r: Raft, m: Message) -> None:
    """Grant a (pre-)vote of a term not below ours only to a log at least as up to date
    as ours, and a real vote at most once per term (§5.2, §5.4.1)."""
    t = m.type
    can_vote = (r.vote == m.frm or (r.vote == NONE and r.lead == NONE)
                or (t == _M.PRE_VOTE and m.term > r.term))
    resp = _M.VOTE_RESP if t == _M.VOTE else _M.PRE_VOTE_RESP
    if can_vote and r.log.is_up_to_date(m.index, m.log_term):
        r.send(Message(resp, to=m.frm, frm=r.id, term=m.term))
        if t == _M.VOTE:
            r.election_elapsed = 0
            r.vote = m.frm
    else:
        r.send(Message(resp, to=m.frm, frm=r.id, term=r.term, reject=True))
        if t == _M.VOTE and m.context == TRANSFER_CTX and r.lead == NONE and \
                not r.log.is_up_to_date(m.index, m.log_term):
            # A hand-off went to a member behind us (its appends were lost or reordered, see
            # `timeout_now`): the leader is gone, and we hold more of its log, so we campaign
            # now rather than leave the cluster leaderless for an election timeout.
            hup(r, transfer=True)

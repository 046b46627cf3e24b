"""Membership changes, one voter at a time (applied when their entry commits).

Why one at a time: any two majorities of configurations that differ by one
member overlap, so no joint consensus is needed; the leader refuses a second
change while one is pending (see `Raft._leader_propose`). These functions act on
a `Raft` and only queue messages, like the rest of the core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvstore.raft.errors import Compacted, RaftError
from kvstore.raft.log import RaftLog
from kvstore.raft.progress import Progress
from kvstore.raft.types import NONE, ConfChange, ConfState, Entry, EntryType, Message, MsgType

if TYPE_CHECKING:
    from kvstore.raft.core import Raft


def apply_conf_change(r: Raft, cc: ConfChange) -> ConfState:
    voters = set(r.voters)
    if cc.type == "bootstrap":
        voters = set(cc.initial_voters())
    elif cc.type == "add":
        voters.add(cc.node_id)
    else:
        voters.discard(cc.node_id)
    was_leader = r.role == "leader"
    r.set_voters(tuple(voters))
    if cc.type == "remove" and cc.node_id == r.lead_transferee:
        r.lead_transferee = NONE
    if was_leader:
        if r.id not in r.prs:
            _leader_leave(r)
        elif r.voters:
            if r.maybe_commit():  # a smaller quorum may commit more
                r.bcast_append()
            else:
                r.bcast_pending = True  # a new member needs its first probe
    return ConfState(r.voters)


def _leader_leave(r: Raft) -> None:
    """A leader that removed itself: hand the commit index out, nudge the most
    up-to-date remaining voter to campaign at once, and step down."""
    last = r.log.last_index()
    best, best_match = NONE, -1
    for v, pr in r.prs.items():
        r.send_append(v)
        if pr.match > best_match:
            best, best_match = v, pr.match
    if best != NONE and best_match == last:
        r.send(Message(MsgType.TIMEOUT_NOW, to=best, frm=r.id, term=r.term))
    r.become_follower(r.term, NONE)


def bootstrap(r: Raft, peers: list[int]) -> None:
    """A brand-new cluster: the initial configuration becomes one committed
    conf-change entry at (index 1, term 1), so every member starts from the same log.

    One entry, not one per member: whoever holds index 1 holds the whole first
    configuration, and whoever lacks it holds none, so no member can ever act on a
    partial one (see `ConfChange.initial`)."""
    if r.log.last_index() != 0:
        raise RaftError("bootstrap on a non-empty log")
    r.become_follower(1, NONE)
    cc = ConfChange.initial(peers)
    r.log.append([Entry(1, 1, EntryType.CONF_CHANGE, cc.encode())])
    r.log.committed = 1
    r.set_voters(cc.initial_voters())


def set_voters(r: Raft, voters: tuple[int, ...]) -> None:
    """Install a voter set, keeping the progress of members that stay."""
    r.voters = tuple(sorted(set(voters)))
    last = r.log.last_index()
    new: dict[int, Progress] = {}
    for v in r.voters:
        pr = r.prs.get(v)
        if pr is None:
            pr = Progress(last + 1, r.max_inflight)
            pr.recent_active = True  # a new member gets a full timeout before check-quorum counts it
            if v == r.id:
                pr.match = r.log.stable_last_index()
        new[v] = pr
    r.prs = new


def is_bootstrap(e: Entry) -> bool:
    """A CONF_CHANGE entry carrying a whole first configuration (undecodable counts as not)."""
    try:
        return ConfChange.decode(e.data).type == "bootstrap"
    except ValueError:
        return False


def has_unapplied_conf_change(log: RaftLog) -> bool:
    """A committed but unapplied CONF_CHANGE: campaigning now could use the wrong voter set."""
    if log.committed <= log.applied:
        return False
    try:
        ents = log.slice(max(log.applied + 1, log.first_index()), log.committed + 1)
    except Compacted:
        return False
    return any(e.type == EntryType.CONF_CHANGE for e in ents)

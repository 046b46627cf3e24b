"""When a member's Raft loop must run for its clock, and when ticks may wait for the next turn.

Why ticks may wait: an idle follower's only tick-driven output is an election, and a turn
per tick (feed, ready, advance) was a third of its loop turns, although the leader's
heartbeats bring a turn every heartbeat anyway. Ticks that wait are handed to Raft before
the messages of the next turn (`KVNode._feed`), so Raft sees ticks and messages in the order
they happened; the loop is woken no later than the tick at which the election clock reaches
the shortest election timeout, so an election starts exactly when it did with a turn per
tick. Anything else tick-driven keeps a turn per tick: a leader (heartbeats, check-quorum),
a candidate, a follower without a leader, and a member with proposals or reads waiting, a
blocked queue or a leadership hand-off under way.
"""

from __future__ import annotations

from kvstore.proposals import ProposalQueue
from kvstore.raft import NONE
from kvstore.raft.core import Raft
from kvstore.reads import ReadIndexQueue


def ticks_due(raft: Raft, ticks: int, election_ticks: int, queue: ProposalQueue, reads: ReadIndexQueue) -> bool:
    """Whether `ticks` counted since the last turn must reach `raft` now, given the member's
    proposals and reads (any waiting on this member keeps a turn per tick)."""
    if not ticks:
        return False
    busy = queue.waiters or queue.conf_waiters or queue.blocked or reads.sent or reads.new
    if busy or raft.role != "follower" or raft.lead == NONE or raft.pending_timeout_now is not None:
        return True
    return raft.election_elapsed + ticks >= election_ticks

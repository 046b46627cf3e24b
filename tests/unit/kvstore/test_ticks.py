"""A follower's ticks may wait for its next turn, and an election still starts on time."""

from __future__ import annotations

import pytest

from kvstore.proposals import ProposalQueue
from kvstore.raft import RawNode
from kvstore.reads import ReadIndexQueue
from kvstore.ticks import ticks_due
from tests.unit.kvstore.raft.network import Network

ELECTION = 10


def _follower_of_a_lost_leader(seed: int) -> tuple[Network, RawNode]:
    net = Network([1, 2, 3], seed=seed, election_tick=ELECTION)
    net.elect(1)
    net.isolate(1)  # no more heartbeats: member 2 must time out and campaign
    return net, net.node(2)


def _tick_of_campaign(seed: int, lazy: bool) -> int:
    """The tick at which member 2 leaves the follower role, its ticks given on every tick or,
    when `lazy`, only once `ticks_due` says so (as the member's ticker does)."""
    net, node = _follower_of_a_lost_leader(seed)
    pending = 0
    for tick in range(1, 10 * ELECTION):
        pending += 1
        if not lazy or ticks_due(node.raft, pending, ELECTION, ProposalQueue(), ReadIndexQueue()):
            for _ in range(pending):
                node.tick()
            pending = 0
        net.process_ready(2)
        if node.raft.role != "follower":
            return tick
    raise AssertionError("member 2 never campaigned")


@pytest.mark.parametrize("seed", range(1, 9))
def test_lazy_ticks_start_the_election_on_the_same_tick(seed: int) -> None:
    eager = _tick_of_campaign(seed, lazy=False)
    assert ELECTION <= eager < 2 * ELECTION
    assert _tick_of_campaign(seed, lazy=True) == eager


def test_a_follower_hearing_its_leader_defers_its_ticks() -> None:
    net = Network([1, 2, 3], seed=3, election_tick=ELECTION)
    net.elect(1)
    follower = net.node(2).raft
    assert follower.role == "follower" and follower.lead == 1
    queue, reads = ProposalQueue(), ReadIndexQueue()
    assert not ticks_due(follower, 0, ELECTION, queue, reads)
    assert not ticks_due(follower, 1, ELECTION, queue, reads)
    assert ticks_due(follower, ELECTION - follower.election_elapsed, ELECTION, queue, reads)
    queue.blocked = True  # a proposal waits for a leader: its retry is tick-driven
    assert ticks_due(follower, 1, ELECTION, queue, reads)


def test_a_leader_and_a_leaderless_member_act_on_every_tick() -> None:
    net = Network([1, 2, 3], seed=5, election_tick=ELECTION)
    queue, reads = ProposalQueue(), ReadIndexQueue()
    assert net.node(2).raft.lead == 0
    assert ticks_due(net.node(2).raft, 1, ELECTION, queue, reads)
    net.elect(1)
    assert ticks_due(net.node(1).raft, 1, ELECTION, queue, reads)

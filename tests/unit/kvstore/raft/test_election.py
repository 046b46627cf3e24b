"""Elections: randomized timeouts, pre-vote, check-quorum and the lease guard."""

from __future__ import annotations

import random

import pytest

from kvstore.raft import Config, MemoryStorage, Message, MsgType, ProposalDropped, RawNode
from tests.unit.kvstore.raft.network import Network


def test_single_member_elects_itself_and_commits() -> None:
    net = Network([1])
    net.tick(25)
    assert net.node(1).status().role == "leader"
    net.node(1).propose(b"a")
    net.settle()
    assert net.data(1) == [b"a"]


def test_three_members_elect_exactly_one_leader() -> None:
    net = Network([1, 2, 3])
    net.tick(25)
    leaders = [i for i in (1, 2, 3) if net.node(i).status().role == "leader"]
    assert len(leaders) == 1
    lead = leaders[0]
    assert all(net.node(i).status().lead == lead for i in (1, 2, 3))


@pytest.mark.parametrize("pre_vote", [True, False])
def test_campaign_wins_with_and_without_prevote(pre_vote: bool) -> None:
    net = Network([1, 2, 3], pre_vote=pre_vote)
    net.elect(2)
    assert net.node(2).status().term == 2
    assert {net.node(i).status().lead for i in (1, 2, 3)} == {2}


def test_randomized_election_timeout_in_range() -> None:
    seen = set()
    for seed in range(60):
        node = RawNode(Config(id=1, storage=MemoryStorage(), election_tick=10, rng=random.Random(seed)), [1, 2, 3])
        seen.add(node.raft.randomized_election_timeout)
    assert min(seen) >= 10 and max(seen) < 20 and len(seen) > 5


def test_prevote_prevents_term_inflation_from_partitioned_member() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    term = net.node(1).status().term
    net.isolate(3)
    net.tick(100)
    # The partitioned member pre-campaigns forever but never bumps its term.
    assert net.node(3).status().term == term
    assert net.node(3).status().role == "pre_candidate"
    net.heal()
    net.tick(5)
    # Rejoining does not disrupt the leader.
    assert net.node(1).status().role == "leader"
    assert net.node(1).status().term == term
    assert net.node(3).status().lead == 1


def test_without_prevote_partitioned_member_inflates_term() -> None:
    net = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    net.elect(1)
    term = net.node(1).status().term
    net.isolate(3)
    net.tick(100)
    assert net.node(3).status().term > term + 2


def test_check_quorum_leader_steps_down_without_contact() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(1)
    net.tick(25, ids=[1])
    st = net.node(1).status()
    assert st.role == "follower" and st.lead == 0
    with pytest.raises(ProposalDropped):
        net.node(1).propose(b"x")


def test_majority_side_elects_new_leader_and_old_leader_rejoins() -> None:
    net = Network([1, 2, 3, 4, 5])
    net.elect(1)
    net.partition([1, 2], [3, 4, 5])
    net.tick(40)
    new = net.leader()
    assert new in (3, 4, 5)
    assert net.node(1).status().role != "leader"
    net.node(new).propose(b"after")
    net.settle()
    net.heal()
    net.tick(5)
    assert all(net.node(i).status().lead == new for i in (1, 2, 3, 4, 5))
    assert all(net.data(i) == [b"after"] for i in (1, 2, 3, 4, 5))


def test_lease_guard_ignores_vote_while_leader_is_live() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    term = net.node(1).status().term
    # A disruptive VOTE at a higher term is ignored by a follower that hears the leader.
    net.node(2).step(Message(MsgType.VOTE, to=2, frm=3, term=term + 5, index=100, log_term=term))
    net.settle()
    assert net.node(2).status().term == term
    assert net.node(1).status().role == "leader"


def test_vote_refused_to_candidate_with_stale_log() -> None:
    net = Network([1, 2, 3], check_quorum=False, pre_vote=False)
    net.elect(1)
    net.isolate(3)
    net.node(1).propose(b"x")
    net.settle()
    net.heal()
    # 3 misses the entry: its campaign cannot win although it reaches everybody.
    net.node(3).campaign()
    net.settle()
    assert net.node(3).status().role != "leader"
    net.tick(30)
    assert net.leader() in (1, 2)


def test_same_seed_same_messages() -> None:
    def run(seed: int) -> list[Message]:
        net = Network([1, 2, 3, 4, 5], seed=seed)
        net.tick(30)
        lead = net.leader()
        for k in range(10):
            net.node(lead).propose(b"v%d" % k)
        net.isolate(lead)
        net.tick(40)
        net.heal()
        net.tick(10)
        return net.log

    assert run(7) == run(7)
    assert run(7) != run(8)

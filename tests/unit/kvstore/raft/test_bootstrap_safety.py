"""Issue 11: the two defects the simulator found outside CI's seed range, pinned as
deterministic schedules (the seeds themselves are replayed in tests/sim/test_sim.py).

1. A member that lost its bootstrap write (crashed before the first Ready was durable)
   and then learnt the log from the leader one entry at a time used to hold the
   configuration {itself} after applying only the first per-member "add": alone, it won
   an election and committed a second entry at index 2 (seeds 4001218, 1002942,
   2001136, 2002132). The bootstrap is now one entry holding every voter.
2. A member refusing a vote of a stale term did not answer, so a candidate whose
   configuration the member had never learnt kept trailing its term forever
   (seed 3002450). Stale vote requests are now refused with the member's term.
"""

from __future__ import annotations

import pytest

from kvstore.raft import ConfChange, EntryType, Message, MsgType, ProposalDropped
from tests.unit.kvstore.raft.network import Member, Network


def _catch_up_until(net: Network, member: Member, index: int) -> None:
    """Deliver messages one at a time until `member` has applied `index`."""
    for _ in range(10_000):
        if any(e.index >= index for e in member.applied):
            return
        for i in sorted(net.members):
            while net.process_ready(i):
                pass
        if net.queue:
            net.deliver(net.queue.popleft())
        else:
            for i in sorted(net.members):
                net.node(i).tick()  # no settle(): it would run past `index`
    raise AssertionError(f"member never applied index {index}")


@pytest.mark.parametrize("pre_vote", [True, False])
def test_member_that_lost_its_bootstrap_never_leads_a_partial_configuration(pre_vote: bool) -> None:
    # Member 1 crashed before its bootstrap write was durable: it never answered anyone.
    net = Network([2, 3], bootstrap=[1, 2, 3], pre_vote=pre_vote, max_size_per_msg=1, max_inflight=1)
    net.elect(2)
    for k in range(4):
        net.node(2).propose(f"v{k}".encode())
    net.settle()
    committed_at_2 = net.members[2].storage.term(2)
    # It comes back with an empty disk and, not knowing it was a founder, no peers.
    fresh = net.add_member(1, None)
    _catch_up_until(net, fresh, 1)
    assert fresh.node.status().voters == (1, 2, 3)
    net.isolate(1)
    net.tick(60, ids=[1])
    assert fresh.node.status().role != "leader"
    net.heal()
    net.tick(30)
    net.settle()
    # Nobody ever holds a different entry at an index that was committed.
    for i in (1, 2, 3):
        assert net.members[i].storage.term(2) == committed_at_2
        assert net.data(i)[-4:] == [b"v0", b"v1", b"v2", b"v3"]


def test_bootstrap_is_one_entry_with_every_voter() -> None:
    net = Network([3, 1, 2])
    ents = net.members[1].storage.entries(1, 2, 1 << 20)
    assert len(ents) == 1 and ents[0].type == EntryType.CONF_CHANGE and ents[0].term == 1
    assert ConfChange.decode(ents[0].data).initial_voters() == (1, 2, 3)
    assert all(net.node(i).status().voters == (1, 2, 3) for i in (1, 2, 3))


def test_a_bootstrap_configuration_cannot_be_proposed() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    with pytest.raises(ProposalDropped, match="bootstrap"):
        net.node(1).propose_conf_change(ConfChange.initial([1]))
    assert net.node(1).status().voters == (1, 2, 3)


def test_truncated_bootstrap_change_is_refused_on_decode() -> None:
    data = ConfChange.initial([1, 2]).encode()
    with pytest.raises(ValueError, match="voter list"):
        ConfChange.decode(data[:-3])


@pytest.mark.parametrize("kind,resp", [(MsgType.VOTE, MsgType.VOTE_RESP),
                                       (MsgType.PRE_VOTE, MsgType.PRE_VOTE_RESP)])
def test_stale_vote_request_is_refused_with_the_current_term(kind: MsgType, resp: MsgType) -> None:
    net = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    net.elect(1)
    net.elect(2)  # member 2 now at term 3
    r = net.node(2).raft
    term = r.term
    r.step(Message(kind, to=2, frm=3, term=term - 1, index=99, log_term=term - 1))
    replies = [m for m in r.msgs if m.to == 3]
    assert [(m.type, m.term, m.reject) for m in replies] == [(resp, term, True)]


def test_candidate_behind_a_member_that_missed_its_configuration_still_wins() -> None:
    """Member 1 missed the changes that made the cluster {1, 4} and campaigns among
    its stale voters {1, 2, 3} (gone), driving its term up; member 4 must still learn
    that term and win the vote it needs from member 1."""
    net = Network([1, 2, 3, 4], bootstrap=[1, 2, 3], pre_vote=False, check_quorum=False)
    net.elect(2)
    net.isolate(1)
    net.node(2).propose_conf_change(ConfChange("add", 4))
    net.settle()
    net.tick(3)
    net.node(2).propose_conf_change(ConfChange("remove", 3))
    net.settle()
    net.tick(3)
    assert net.node(4).status().voters == (1, 2, 4)
    net.node(2).propose_conf_change(ConfChange("remove", 2))
    net.settle()
    assert net.node(4).status().voters == (1, 4)
    net.down.update({2, 3})
    for _ in range(12):  # member 1 alone bumps its term several times
        net.node(1).campaign()
        net.settle()
    assert net.node(1).status().term > net.node(4).status().term
    net.heal()
    net.tick(200, ids=[1, 4])
    assert net.leader() == 4
    net.node(4).propose(b"after")
    net.settle()
    assert net.data(1)[-1:] == [b"after"]

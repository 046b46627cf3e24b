"""ReadIndex: linearizable read points confirmed by a heartbeat quorum."""

from __future__ import annotations

import pytest

from kvstore.raft import MsgType, ProposalDropped, ReadState
from tests.unit.kvstore.raft.network import Network


def test_leader_read_index_after_heartbeat_quorum() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(1).propose(b"x")
    net.settle()
    commit = net.node(1).status().commit
    before = len(net.log)
    net.node(1).read_index(b"r1")
    net.settle()
    hbs = [m for m in net.log[before:] if m.type == MsgType.HEARTBEAT and m.context == b"r1"]
    assert len(hbs) == 2
    assert net.members[1].read_states == [ReadState(commit, b"r1")]


def test_follower_read_index_is_forwarded_to_leader() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(1).propose(b"x")
    net.settle()
    net.node(3).read_index(b"f")
    net.settle()
    assert net.members[3].read_states == [ReadState(net.node(1).status().commit, b"f")]


def test_isolated_leader_cannot_confirm_read() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(1)
    net.node(1).read_index(b"stale")
    net.settle()
    assert net.members[1].read_states == []
    net.tick(30, ids=[1])
    assert net.members[1].read_states == []  # stepped down without answering


def test_read_index_waits_for_commit_in_current_term() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(2)
    net.isolate(3)
    # Re-elect 1 at a new term without letting its no-op commit.
    net.heal()
    net.cut.update({(1, 2), (1, 3)})  # 1's appends are lost, votes still get through
    net.node(1).read_index(b"early")
    net.settle()
    assert net.members[1].read_states == []
    net.heal()
    net.tick(2)
    assert [rs.request_ctx for rs in net.members[1].read_states] == [b"early"]


def test_read_index_without_leader_is_dropped() -> None:
    net = Network([1, 2, 3])
    with pytest.raises(ProposalDropped):
        net.node(2).read_index(b"x")


def test_single_member_read_index_is_immediate() -> None:
    net = Network([1])
    net.tick(25)
    net.node(1).read_index(b"x")
    net.settle()
    assert net.members[1].read_states == [ReadState(net.node(1).status().commit, b"x")]


def test_follower_read_index_counts_the_requester_as_an_ack() -> None:
    # 3 members: the leader and the asking follower are a majority, so no heartbeat round.
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(1).propose(b"x")
    net.settle()
    before = len(net.log)
    net.node(3).read_index(b"f")
    net.settle()
    sent = net.log[before:]
    assert [m.type for m in sent] == [MsgType.READ_INDEX, MsgType.READ_INDEX_RESP]
    assert net.members[3].read_states == [ReadState(net.node(1).status().commit, b"f")]


def test_follower_read_index_in_five_members_still_needs_a_heartbeat_ack() -> None:
    net = Network([1, 2, 3, 4, 5])
    net.elect(1)
    net.node(1).propose(b"x")
    net.settle()
    for i in (2, 3, 4):
        net.isolate(i)  # the leader and the asker alone are no majority of five
    net.node(5).read_index(b"f")
    net.settle()
    assert net.members[5].read_states == []
    net.heal()
    net.tick(2)
    assert [rs.request_ctx for rs in net.members[5].read_states] == [b"f"]


def test_deposed_leader_cannot_confirm_a_follower_read() -> None:
    # Member 3 still follows the old leader 1 when it asks, but 1 is cut off from 2; once 2
    # leads a newer term, a read answered by 1 could miss 2's writes.
    net = Network([1, 2, 3])
    net.elect(1)
    net.partition([1], [2, 3])
    net.tick(30, ids=[2, 3])
    new = net.leader()
    assert new in (2, 3)
    net.node(new).propose(b"newer")
    net.settle()
    old_term = net.node(1).raft.term
    net.cut.discard((3, 1))
    net.cut.discard((1, 3))
    net.node(3).raft.lead = 1  # as if 3 still believed in 1 when the read arrived ...
    net.node(3).read_index(b"stale")
    net.settle()
    # ... its request carries its newer term: 1 steps down instead of answering.
    assert net.node(1).raft.term > old_term
    assert all(rs.index >= net.node(new).status().commit for rs in net.members[3].read_states)

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

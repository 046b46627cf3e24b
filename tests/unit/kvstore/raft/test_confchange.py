"""Membership changes: one voter at a time through CONF_CHANGE entries."""

from __future__ import annotations

import pytest

from kvstore.raft import ConfChange, ProposalDropped
from tests.unit.kvstore.raft.network import Network


def test_conf_change_codec_roundtrip() -> None:
    cc = ConfChange("remove", 2**63 + 5, b"http://x:2380")
    assert ConfChange.decode(cc.encode()) == cc
    with pytest.raises(ValueError):
        ConfChange.decode(b"\x07" + bytes(8))


def test_add_member_joins_and_catches_up() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(1).propose(b"before")
    net.settle()
    net.node(1).propose_conf_change(ConfChange("add", 4))
    net.settle()
    assert net.node(1).status().voters == (1, 2, 3, 4)
    net.add_member(4, None)  # a joining member starts empty and learns everything from the leader
    net.tick(3)
    assert net.node(4).status().voters == (1, 2, 3, 4)
    assert net.data(4) == [b"before"]
    net.node(4).propose(b"from4")
    net.settle()
    assert net.data(1)[-1] == b"from4"
    # Quorum is now 3 of 4: with two members down nothing commits.
    net.down.update({3, 4})
    net.node(1).propose(b"stuck")
    net.settle()
    assert net.data(1)[-1] == b"from4"


def test_second_pending_conf_change_is_refused() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(2)
    net.isolate(3)
    net.node(1).propose_conf_change(ConfChange("add", 4))
    with pytest.raises(ProposalDropped):
        net.node(1).propose_conf_change(ConfChange("add", 5))
    net.heal()
    net.settle()
    net.tick(2)
    net.node(1).propose_conf_change(ConfChange("add", 5))  # accepted once the first applied
    net.settle()
    assert net.node(1).status().voters == (1, 2, 3, 4, 5)


def test_remove_follower_stops_it_and_shrinks_quorum() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(1).propose_conf_change(ConfChange("remove", 3))
    net.settle()
    assert net.node(1).status().voters == (1, 2)
    assert net.node(3).status().voters == (1, 2)
    net.tick(50, ids=[3])
    assert net.node(3).status().role == "follower"  # removed: never campaigns
    net.down.add(3)
    net.node(1).propose(b"x")
    net.settle()
    assert net.data(2) == [b"x"]


def test_leader_removing_itself_steps_down_and_hands_over() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(1).propose_conf_change(ConfChange("remove", 1))
    net.settle()
    assert net.node(1).status().role == "follower"
    net.tick(3, ids=[2, 3])
    new = net.leader()
    assert new in (2, 3)
    assert net.node(new).status().voters == (2, 3)
    net.node(new).propose(b"y")
    net.settle()
    assert net.data(2)[-1] == b"y" and net.data(3)[-1] == b"y"
    with pytest.raises(ProposalDropped):
        net.node(1).propose(b"z")

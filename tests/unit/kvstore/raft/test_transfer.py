"""Leadership transfer (TRANSFER_LEADER -> TIMEOUT_NOW)."""

from __future__ import annotations

import pytest

from kvstore.raft import MsgType, ProposalDropped
from tests.unit.kvstore.raft.network import Network


def test_transfer_to_up_to_date_follower() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    term = net.node(1).status().term
    net.node(1).transfer_leadership(3)
    net.settle()
    assert net.node(3).status().role == "leader"
    assert net.node(3).status().term == term + 1
    assert all(net.node(i).status().lead == 3 for i in (1, 2, 3))
    assert any(m.type == MsgType.TIMEOUT_NOW and m.to == 3 for m in net.log)


def test_transfer_to_lagging_follower_catches_it_up_first() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    for k in range(10):
        net.node(1).propose(b"%d" % k)
    net.settle()
    net.heal()
    net.node(1).transfer_leadership(3)
    with pytest.raises(ProposalDropped):
        net.node(1).propose(b"during")  # proposals wait for the new leader
    net.settle()
    assert net.node(3).status().role == "leader"
    assert net.data(3) == [b"%d" % k for k in range(10)]


def test_transfer_requested_on_follower_is_forwarded() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(2).transfer_leadership(2)
    net.settle()
    assert net.leader() == 2


def test_transfer_to_unreachable_member_is_abandoned() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.node(1).transfer_leadership(3)
    net.settle()
    assert net.node(1).status().lead_transferee == 3
    net.tick(25, ids=[1, 2])
    st = net.node(1).status()
    assert st.role == "leader" and st.lead_transferee == 0
    net.node(1).propose(b"ok")
    net.settle()
    assert net.data(2) == [b"ok"]

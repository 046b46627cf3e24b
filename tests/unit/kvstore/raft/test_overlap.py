"""A leader's appends leave before its own fsync (Raft thesis 10.2.1); what keeps that safe and live.

Safety: the leader's copy of an entry counts toward the commit quorum only once the app reported
it durable (`RawNode.advance`), so followers' acks that arrive while the leader's fsync runs cannot
commit an entry that only one disk holds. Liveness: a leader whose disk failed hands off with a
TIMEOUT_NOW naming the last entry it sent; the follower campaigns once it holds that entry (or,
if that append never comes, after `HANDOFF_WAIT_TICKS`); a voter that refuses such a
campaign because it holds more of the leader's log campaigns itself.
"""

from __future__ import annotations

from kvstore.raft import Message, MsgType, RawNode, Ready
from kvstore.raft.election import HANDOFF_WAIT_TICKS
from tests.unit.kvstore.raft.network import Network


def _follower_acks(net: Network, leader_msgs: list[Message], ids: tuple[int, ...]) -> list[Message]:
    """Deliver the leader's appends to `ids`, let them persist; their acks to the leader."""
    for m in leader_msgs:
        if m.to in ids:
            net.node(m.to).step(m)
    acks: list[Message] = []
    for i in ids:
        member, node = net.members[i], net.node(i)
        while node.has_ready():
            rd = node.ready()
            member.storage.append(rd.entries)
            if rd.hard_state is not None:
                member.storage.set_hard_state(rd.hard_state)
            acks += [m for m in rd.messages if m.type == MsgType.APP_RESP]
            node.advance(rd)
    return acks


def _leader_ready_with_append(net: Network, leader: int) -> tuple[RawNode, list[Message], Ready]:
    node = net.node(leader)
    node.propose(b"x")
    rd = node.ready()
    assert rd.entries and any(m.type == MsgType.APP and m.entries for m in rd.messages)
    return node, rd.messages, rd


def test_an_ack_during_the_leaders_fsync_does_not_commit_on_the_leaders_unsynced_copy() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    node, msgs, rd = _leader_ready_with_append(net, 1)
    commit = node.status().commit
    # The appends went out before the leader's fsync; follower 2's ack arrives while it runs.
    for ack in _follower_acks(net, msgs, (2,)):
        node.step(ack)
    assert node.status().commit == commit, "committed with one durable copy (follower 2's) of three"
    # The leader's fsync is done: now two of three copies are durable.
    storage = net.members[1].storage
    storage.append(rd.entries)
    node.advance(rd)
    assert node.status().commit == commit + 1
    nxt = node.ready()
    assert [e.data for e in nxt.committed_entries] == [b"x"]
    # and the followers are told the new commit index (one append each, in this Ready)
    assert {m.to for m in nxt.messages if m.type == MsgType.APP and m.commit == commit + 1} == {2, 3}


def test_followers_alone_commit_while_the_leaders_fsync_runs() -> None:
    net = Network([1, 2, 3, 4, 5])
    net.elect(1)
    node, msgs, _rd = _leader_ready_with_append(net, 1)
    commit = node.status().commit
    acks = _follower_acks(net, msgs, (2, 3))
    for ack in acks:
        node.step(ack)
    assert node.status().commit == commit, "two durable copies of five are no quorum"
    for ack in _follower_acks(net, msgs, (4,)):
        node.step(ack)
    assert node.status().commit == commit + 1, "three followers' durable copies are a quorum of five"


def test_a_single_voter_commits_only_what_it_made_durable() -> None:
    net = Network([1])
    net.elect(1)
    node = net.node(1)
    node.propose(b"solo")
    rd = node.ready()
    assert not [e for e in rd.committed_entries if e.data]
    net.members[1].storage.append(rd.entries)
    node.advance(rd)
    assert [e.data for e in node.ready().committed_entries] == [b"solo"]


def _handoff_to_2(net: Network, index: int, term: int) -> RawNode:
    follower = net.node(2)
    follower.step(Message(MsgType.TIMEOUT_NOW, to=2, frm=1, term=term, index=index, log_term=term))
    return follower


def test_a_handoff_waits_for_the_entry_it_names_then_campaigns_on_its_arrival() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    leader = net.node(1)
    term = leader.status().term
    _node, msgs, _rd = _leader_ready_with_append(net, 1)
    app = next(m for m in msgs if m.type == MsgType.APP and m.to == 2)
    last = app.entries[-1].index
    # The hand-off overtook the append (a reordered link): campaigning now would lose the vote of
    # any follower that already holds the entry.
    follower = _handoff_to_2(net, last, term)
    assert follower.status().role == "follower"
    follower.step(app)
    assert follower.status().role == "candidate" and follower.status().term == term + 1


def test_a_handoff_whose_entry_never_comes_campaigns_after_a_short_wait() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    term = net.node(1).status().term
    last = net.node(2).status().commit
    follower = _handoff_to_2(net, last + 5, term)  # an append that was lost or refused
    for _ in range(HANDOFF_WAIT_TICKS - 1):
        follower.tick()
        assert follower.status().role == "follower"
    follower.tick()
    assert follower.status().role == "candidate"
    net.down.add(1)  # the leader's disk failed: it is gone
    net.settle()
    assert net.leader() in (2, 3) and net.node(net.leader()).status().term > term


def test_a_handoff_that_names_an_entry_we_hold_campaigns_at_once() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    term = net.node(1).status().term
    follower = _handoff_to_2(net, net.node(2).status().commit, term)
    assert follower.status().role == "candidate"


def test_a_voter_ahead_of_a_handoff_target_campaigns_itself() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    term = net.node(1).status().term
    net.isolate(2)
    net.node(1).propose(b"only-on-1-and-3")
    net.settle()
    net.down.add(1)  # the leader's disk failed; its hand-off went to 2, which lacks the entry
    net.heal()
    follower = net.node(2)
    follower.step(Message(MsgType.TIMEOUT_NOW, to=2, frm=1, term=term))
    net.settle()
    # 3 refuses 2 (its log is newer) and, knowing the leader abdicated, campaigns at once.
    assert net.leader() == 3
    assert net.node(3).status().term > term

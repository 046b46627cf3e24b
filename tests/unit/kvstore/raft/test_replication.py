"""Log replication: conflicts, the commit rule, batching, forwarding, flow control."""

from __future__ import annotations

import random

import pytest

from kvstore.raft import (
    Config,
    ConfState,
    Entry,
    HardState,
    MemoryStorage,
    Message,
    MsgType,
    ProposalDropped,
    RawNode,
    Snapshot,
    SnapshotMeta,
)
from kvstore.raft.types import COMMIT_NOTICE
from tests.unit.kvstore.raft.network import Network


def storage_with(entries: list[Entry], voters: tuple[int, ...], hs: HardState) -> MemoryStorage:
    s = MemoryStorage()
    s.apply_snapshot(Snapshot(SnapshotMeta(0, 0, ConfState(voters)), b""))
    s.append(entries)
    s.set_hard_state(hs)
    return s


def drain(node: RawNode) -> list[Message]:
    out: list[Message] = []
    while node.has_ready():
        rd = node.ready()
        node.raft.log.storage.append(rd.entries)
        if rd.hard_state:
            node.raft.log.storage.set_hard_state(rd.hard_state)
        out.extend(rd.messages)
        node.advance(rd)
    return out


def test_follower_conflicting_suffix_is_replaced_with_fast_backoff() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(1).propose(b"common")
    net.settle()
    net.isolate(1)
    for k in range(50):
        net.node(1).propose(b"lost%d" % k)  # only on the old leader
    net.settle()
    net.tick(30, ids=[2, 3])
    new = net.leader()
    assert new in (2, 3)
    for k in range(50):
        net.node(new).propose(b"kept%d" % k)
    net.settle()
    before = len(net.log)
    net.heal()
    net.tick(5)
    rejects = [m for m in net.log[before:] if m.type == MsgType.APP_RESP and m.reject and m.frm == 1]
    assert len(rejects) <= 2  # one hint jumps over the whole conflicting term
    want = [b"common"] + [b"kept%d" % k for k in range(50)]
    assert all(net.data(i) == want for i in (1, 2, 3))
    s1, s2 = net.members[1].storage, net.members[new].storage
    assert s1.entries(1, s1.last_index() + 1) == s2.entries(1, s2.last_index() + 1)


def test_old_term_entry_not_committed_by_counting_replicas() -> None:
    # Raft §5.4.2 / Figure 8: all three have (1,1),(2,2); node 1 becomes leader of term 3.
    ents = [Entry(1, 1), Entry(2, 2, data=b"old")]
    node = RawNode(Config(id=1, storage=storage_with(ents, (1, 2, 3), HardState(2, 0, 1)),
                          rng=random.Random(1)))
    node.campaign()
    drain(node)
    node.step(Message(MsgType.PRE_VOTE_RESP, to=1, frm=2, term=3))
    drain(node)
    node.step(Message(MsgType.VOTE_RESP, to=1, frm=2, term=3))
    drain(node)
    st = node.status()
    assert st.role == "leader" and st.term == 3 and st.commit == 1
    # A majority now holds index 2 (an entry of term 2): not enough to commit it.
    node.step(Message(MsgType.APP_RESP, to=1, frm=2, term=3, index=2))
    drain(node)
    assert node.status().commit == 1
    # Once the term-3 no-op at index 3 is on a majority, 2 and 3 commit together.
    node.step(Message(MsgType.APP_RESP, to=1, frm=2, term=3, index=3))
    drain(node)
    assert node.status().commit == 3


def test_proposals_batch_into_one_append_per_follower() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    before = len(net.log)
    for k in range(100):
        net.node(1).propose(b"p%d" % k)
    net.settle()
    apps = [m for m in net.log[before:] if m.type == MsgType.APP and m.entries]
    assert len(apps) == 2 and all(len(m.entries) == 100 for m in apps)
    assert net.data(3) == [b"p%d" % k for k in range(100)]


def test_commit_notice_is_not_answered_and_a_lost_ack_is_repaired() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(1).propose(b"a")
    net.settle()
    before = len(net.log)
    net.node(1).propose(b"b")
    net.settle()
    sent = net.log[before:]
    notices = [m for m in sent if m.type == MsgType.APP and not m.entries]
    assert {m.to for m in notices} == {2, 3}  # the new commit index, once per follower
    assert all(m.context == COMMIT_NOTICE for m in notices)
    acks = [m for m in sent if m.type == MsgType.APP_RESP]
    assert sorted(m.frm for m in acks) == [2, 3]  # the entry is acked; the notices are not
    assert net.data(2) == net.data(3) == [b"a", b"b"]
    # Follower 2's ack of "c" is lost: heartbeat answers make the leader ask again, unmarked.
    net.drop_types = {MsgType.APP_RESP}
    net.node(1).propose(b"c")
    net.settle()
    net.drop_types = set()
    assert net.node(1).status().progress[2].match < net.node(1).raft.log.last_index()
    net.tick(2)
    assert net.node(1).status().progress[2].match == net.node(1).raft.log.last_index()
    assert net.data(2) == [b"a", b"b", b"c"]


def test_probe_appends_are_never_commit_notices() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.node(1).propose(b"a")
    net.settle()
    raft = net.node(1).raft
    net.node(1).report_unreachable(2)  # back to PROBE: the leader waits for an answer to its append
    raft.msgs.clear()
    raft.bcast_append()  # nothing new to send to either follower
    empty = {m.to: m for m in raft.msgs if m.type == MsgType.APP and not m.entries}
    assert empty[3].context == COMMIT_NOTICE  # replicating: a notice
    assert empty[2].context == b""  # probing: must be answered
    raft.msgs.clear()


def test_append_respects_max_size_per_msg() -> None:
    net = Network([1, 2, 3], max_size_per_msg=1000)
    net.elect(1)
    before = len(net.log)
    for k in range(20):
        net.node(1).propose(bytes(200) + b"%d" % k)
    net.settle()
    apps = [m for m in net.log[before:] if m.type == MsgType.APP and m.entries and m.to == 2]
    assert len(apps) > 3
    assert all(sum(len(e.data) for e in m.entries) <= 1000 for m in apps)
    assert len(net.data(2)) == 20


def test_inflight_window_bounds_unacknowledged_appends() -> None:
    net = Network([1, 2, 3], max_inflight=2)
    net.elect(1)
    net.isolate(2)
    for k in range(10):
        net.node(1).propose(b"%d" % k)
        net.settle()
    to2 = [m for m in net.log if m.type == MsgType.APP and m.to == 2 and m.entries]
    assert net.node(1).status().progress[2].paused
    net.heal()
    net.tick(3)
    assert len(net.data(2)) == 10
    assert len(to2) <= 12


def test_follower_forwards_proposals_to_leader() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    before = len(net.log)
    net.node(3).propose(b"a")
    net.node(3).propose(b"b")
    net.settle()
    props = [m for m in net.log[before:] if m.type == MsgType.PROP]
    assert len(props) == 1 and props[0].to == 1 and len(props[0].entries) == 2
    assert all(net.data(i) == [b"a", b"b"] for i in (1, 2, 3))


def test_proposal_dropped_without_leader() -> None:
    net = Network([1, 2, 3])
    with pytest.raises(ProposalDropped):
        net.node(1).propose(b"x")


def test_committed_entries_delivered_once_and_in_order() -> None:
    net = Network([1, 2, 3, 4, 5])
    net.elect(2)
    for k in range(30):
        net.node(1 + k % 5).propose(b"%d" % k)
        if k % 7 == 0:
            net.tick(1)
    net.settle()
    seq = net.data(1)
    assert sorted(seq) == sorted(b"%d" % k for k in range(30))
    assert all(net.data(i) == seq for i in (2, 3, 4, 5))
    idx = [e.index for e in net.members[4].applied]
    assert idx == list(range(1, len(idx) + 1))


def test_work_between_ready_and_advance_is_not_lost_or_repeated() -> None:
    # The node layer may await its fsync between ready() and advance(); Raft keeps running.
    net = Network([1])
    net.tick(25)
    node, storage = net.node(1), net.members[1].storage
    node.propose(b"a")
    rd1 = node.ready()
    node.propose(b"b")  # arrives while rd1 is being persisted
    storage.append(rd1.entries)
    if rd1.hard_state:
        storage.set_hard_state(rd1.hard_state)
    node.advance(rd1)
    rd2 = node.ready()
    # The leader's own copy counts toward the quorum only once durable: "a" commits at advance(rd1).
    assert [e.data for e in rd1.committed_entries if e.data] == []
    assert [e.data for e in rd2.entries] == [b"b"]
    assert [e.data for e in rd2.committed_entries if e.data] == [b"a"]
    storage.append(rd2.entries)
    node.advance(rd2)
    rd3 = node.ready()
    assert [e.data for e in rd3.committed_entries] == [b"b"] and not rd3.entries
    node.advance(rd3)
    assert not node.has_ready()


def test_ack_of_an_entry_truncated_in_the_same_ready_is_not_sent() -> None:
    # Follower 3 holds (1,1). Within one Ready it takes a term-2 append of index 2 (and would ack it),
    # then a term-3 leader's append that replaces index 2. Its disk will hold term 3's entry, so the
    # term-2 ack must not leave: a term-2 leader could count it towards committing an entry no
    # longer on this member's disk (sim seed 127160152 found this).
    node = RawNode(Config(id=3, storage=storage_with([Entry(1, 1)], (1, 2, 3), HardState(1, 0, 1)),
                          rng=random.Random(1)))
    drain(node)
    node.step(Message(MsgType.APP, to=3, frm=1, term=2, log_term=1, index=1, commit=1,
                      entries=(Entry(term=2, index=2, data=b"term-2"),)))
    node.step(Message(MsgType.APP, to=3, frm=2, term=3, log_term=1, index=1, commit=1,
                      entries=(Entry(term=3, index=2, data=b"term-3"),)))
    rd = node.ready()
    assert [(e.index, e.term, e.data) for e in rd.entries] == [(2, 3, b"term-3")]
    acks = [(m.to, m.term, m.index) for m in rd.messages if m.type == MsgType.APP_RESP]
    assert acks == [(2, 3, 2)]

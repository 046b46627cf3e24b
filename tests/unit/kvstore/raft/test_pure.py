"""Table tests of the pure pieces: quorum math, progress flow control, the log."""

from __future__ import annotations

import pytest

from kvstore.raft import ConfState, Entry, MemoryStorage, Message, MsgType, RaftError, Snapshot, SnapshotMeta
from kvstore.raft.log import RaftLog
from kvstore.raft.progress import Progress
from kvstore.raft.quorum import VoteResult, committed_index, has_quorum, vote_result


@pytest.mark.parametrize(("voters", "match", "want"), [
    ((), {}, 0),
    ((1,), {1: 7}, 7),
    ((1, 2, 3), {1: 5, 2: 3, 3: 1}, 3),
    ((1, 2, 3), {1: 5}, 0),
    ((1, 2, 3, 4), {1: 9, 2: 8, 3: 2, 4: 1}, 2),
    ((1, 2, 3, 4, 5), {1: 9, 2: 8, 3: 7, 4: 1, 5: 1}, 7),
])
def test_committed_index(voters: tuple[int, ...], match: dict[int, int], want: int) -> None:
    assert committed_index(voters, match) == want


@pytest.mark.parametrize(("voters", "votes", "want"), [
    ((1,), {1: True}, VoteResult.WON),
    ((1, 2, 3), {1: True}, VoteResult.PENDING),
    ((1, 2, 3), {1: True, 2: True}, VoteResult.WON),
    ((1, 2, 3), {1: True, 2: False, 3: False}, VoteResult.LOST),
    ((1, 2, 3, 4), {1: True, 2: True, 3: False}, VoteResult.PENDING),
    ((1, 2, 3, 4), {1: True, 2: False, 3: False}, VoteResult.LOST),
])
def test_vote_result(voters: tuple[int, ...], votes: dict[int, bool], want: VoteResult) -> None:
    assert vote_result(voters, votes) == want


def test_has_quorum() -> None:
    assert has_quorum((1, 2, 3), [1, 3])
    assert not has_quorum((1, 2, 3), [1, 9])
    assert not has_quorum((), [1])


def test_progress_probe_replicate_snapshot() -> None:
    pr = Progress(next_index=11, max_inflight=2)
    assert pr.state == "probe" and not pr.is_paused()
    pr.sent_entries(15)
    assert pr.is_paused()  # one probe at a time
    assert not pr.maybe_decr_to(3, 2)  # stale rejection (next-1 != 3)
    assert pr.maybe_decr_to(10, 6) and pr.next == 7 and not pr.is_paused()
    assert pr.maybe_update(8) and pr.match == 8
    pr.become_replicate()
    pr.sent_entries(12)
    pr.sent_entries(14)
    assert pr.is_paused() and pr.next == 15  # window of 2 full
    pr.inflights.free_le(12)
    assert not pr.is_paused()
    assert not pr.maybe_decr_to(8, 0)  # <= match: stale
    assert pr.maybe_decr_to(13, 0) and pr.next == 9
    pr.become_snapshot(100)
    assert pr.is_paused()
    pr.become_probe()
    assert pr.next == 101


def log_with(ents: list[tuple[int, int]], snap: int = 0, snap_term: int = 0) -> RaftLog:
    s = MemoryStorage()
    if snap:
        s.apply_snapshot(Snapshot(SnapshotMeta(snap, snap_term, ConfState((1,))), b""))
    s.append([Entry(t, i) for i, t in ents])
    return RaftLog(s)


@pytest.mark.parametrize(("index", "term", "want"), [
    (6, 4, (6, 3)),   # ours is older at 6: back off to the last entry <= term 4
    (6, 2, (3, 2)),
    (6, 1, (1, 1)),
    (6, 0, (0, 0)),
    (4, 3, (4, 3)),
])
def test_find_conflict_by_term(index: int, term: int, want: tuple[int, int]) -> None:
    log = log_with([(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 3)])
    assert log.find_conflict_by_term(index, term) == want


def test_find_conflict_by_term_stops_at_compaction() -> None:
    log = log_with([(6, 3), (7, 4)], snap=5, snap_term=3)
    assert log.find_conflict_by_term(7, 1) == (4, 0)


@pytest.mark.parametrize(("prev", "prev_term", "ents", "want", "last"), [
    (3, 2, [(4, 3)], 4, 4),            # append in place
    (3, 3, [(4, 3)], None, 3),         # prev term mismatch
    (5, 2, [(6, 2)], None, 3),         # gap
    (1, 1, [(2, 2)], 2, 3),            # all present: nothing changes
    (1, 1, [(2, 5), (3, 5)], 3, 3),    # conflict at 2: suffix replaced
])
def test_maybe_append(prev: int, prev_term: int, ents: list[tuple[int, int]], want: int | None,
                      last: int) -> None:
    log = log_with([(1, 1), (2, 2), (3, 2)])
    got = log.maybe_append(prev, prev_term, 0, tuple(Entry(t, i) for i, t in ents))
    assert got == want and log.last_index() == last


def test_conflict_with_committed_entry_is_refused() -> None:
    log = log_with([(1, 1), (2, 2), (3, 2)])
    log.commit_to(3)
    with pytest.raises(RaftError):
        log.maybe_append(1, 1, 3, (Entry(9, 2),))


def test_log_spans_storage_and_unstable_with_size_limit() -> None:
    log = log_with([(1, 1), (2, 1)])
    log.append([Entry(1, 3, data=b"x" * 100), Entry(1, 4, data=b"y" * 100)])
    assert [e.index for e in log.slice(1, 5)] == [1, 2, 3, 4]
    assert [e.index for e in log.slice(1, 5, max_size=150)] == [1, 2, 3]
    assert [e.index for e in log.slice(3, 5, max_size=1)] == [3]
    log.unstable.stable_to(3, 1)
    assert log.unstable.offset == 4 and [e.index for e in log.unstable.entries] == [4]
    log.unstable.stable_to(4, 7)  # wrong term: overwritten meanwhile, keep it
    assert log.unstable.offset == 4


def test_commit_only_current_term() -> None:
    log = log_with([(1, 1), (2, 2), (3, 3)])
    assert not log.maybe_commit(2, 3)
    assert log.maybe_commit(3, 3) and log.committed == 3


def test_step_refuses_local_messages_and_termless_peer_messages() -> None:
    from kvstore.raft import StepLocalMsg
    from tests.unit.kvstore.raft.network import Network
    net = Network([1, 2, 3])
    net.elect(1)
    with pytest.raises(StepLocalMsg):
        net.node(2).step(Message(MsgType.HUP, to=2, frm=2))
    net.node(2).step(Message(MsgType.HEARTBEAT, to=2, frm=3, term=0, commit=99))
    assert net.node(2).status().lead == 1

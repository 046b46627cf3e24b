"""Majority arithmetic over a set of voters (pure functions).

Why separate: commit, elections, check-quorum and ReadIndex all ask "does a
majority agree?"; one place gets the off-by-one right for every caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum


class VoteResult(Enum):
    PENDING = 0
    WON = 1
    LOST = 2


def majority(n: int) -> int:
    return n // 2 + 1


def committed_index(voters: tuple[int, ...], match: Mapping[int, int]) -> int:
    """The largest index that a majority of voters has (0 for an empty config)."""
    n = len(voters)
    if n == 0:
        return 0
    if n == 1:
        return match.get(voters[0], 0)
    idx = sorted((match.get(v, 0) for v in voters), reverse=True)
    return idx[majority(n) - 1]


def vote_result(voters: tuple[int, ...], votes: Mapping[int, bool]) -> VoteResult:
    """WON once a majority granted, LOST once a majority can no longer be reached."""
    if not voters:
        return VoteResult.WON  # an empty config wins trivially (as etcd); callers guard
    granted = rejected = 0
    for v in voters:
        got = votes.get(v)
        if got is True:
            granted += 1
        elif got is False:
            rejected += 1
    q = majority(len(voters))
    if granted >= q:
        return VoteResult.WON
    if len(voters) - rejected < q:
        return VoteResult.LOST
    return VoteResult.PENDING


def has_quorum(voters: tuple[int, ...], ids: Iterable[int]) -> bool:
    """True when `ids` contains a majority of `voters`."""
    s = set(ids)
    return sum(1 for v in voters if v in s) >= majority(len(voters)) if voters else False

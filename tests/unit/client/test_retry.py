"""retry_on_conflict: re-runs a read-modify-write on Conflict only, and says when it gave up."""

from __future__ import annotations

import pytest

from kubelite.api.errors import Conflict, NotFound
from kubelite.client import retry_on_conflict


async def test_retries_conflicts_until_success() -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Conflict("stale")
        return "written"

    assert await retry_on_conflict(attempt) == "written" and calls == 3


async def test_other_errors_propagate_at_once() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise NotFound("gone")

    with pytest.raises(NotFound):
        await retry_on_conflict(attempt)
    assert calls == 1


async def test_gives_up_after_the_attempts() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise Conflict("stale")

    with pytest.raises(Conflict, match="stale"):
        await retry_on_conflict(attempt, attempts=3)
    assert calls == 3
    with pytest.raises(Conflict, match="node n1 kept changing; gave up after 2 attempts"):
        await retry_on_conflict(attempt, attempts=2, what="node n1")

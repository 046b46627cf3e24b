"""The supervisor's restart decisions with a fake clock: back-off, reset, crash loop, stop/restart requests."""

from __future__ import annotations

import pytest

from kubelite.supervisorplan import (
    BACKOFF,
    CRASHLOOP,
    RUNNING,
    STOPPED,
    ComponentState,
    Event,
    Exited,
    RestartRequested,
    Started,
    StopRequested,
    due,
    restart_plan,
)


def run(events: list[tuple[float, Event]]) -> ComponentState:
    state = ComponentState()
    for now, event in events:
        state = restart_plan(state, event, now)
    return state


def crashes(times: list[float]) -> list[tuple[float, Event]]:
    """Start at t, die 0.5 s later, for each t."""
    out: list[tuple[float, Event]] = []
    for t in times:
        out += [(t, Started()), (t + 0.5, Exited("exit code 1"))]
    return out


@pytest.mark.parametrize(
    ("events", "state", "restarts", "backoff", "restart_at"),
    [
        ([(0, Started())], RUNNING, 0, 0.0, None),
        ([(0, Started()), (5, Exited("signal 9 (SIGKILL)"))], BACKOFF, 1, 1.0, 6.0),
        (crashes([0, 2, 5]), BACKOFF, 3, 4.0, 9.5),  # 1, 2, 4: doubling
        (crashes([0, 2, 5, 10, 19, 36]), CRASHLOOP, 6, 30.0, 66.5),  # > 5 in 2 min; 32 capped at 30
        (crashes([0, 2, 5, 10, 19, 300]), BACKOFF, 6, 30.0, 330.5),  # old exits leave the window
        # a 60 s healthy run resets the back-off
        ([*crashes([0, 2, 5]), (10, Started()), (80, Exited("exit code 2"))], BACKOFF, 4, 1.0, 81.0),
        ([(0, Started()), (1, StopRequested()), (1.2, Exited("signal 9 (SIGKILL)"))], STOPPED, 0, 0.0, None),
        ([(0, Started()), (1, StopRequested()), (2, RestartRequested())], "Starting", 0, 0.0, 2.0),
    ],
)
def test_restart_plan(events: list[tuple[float, Event]], state: str, restarts: int, backoff: float,
                      restart_at: float | None) -> None:
    got = run(events)
    assert (got.state, got.restarts, got.backoff, got.restart_at) == (state, restarts, backoff, restart_at)


def test_exit_reason_and_due() -> None:
    got = run([(0, Started()), (3, Exited("signal 9 (SIGKILL)"))])
    assert got.last_exit == "signal 9 (SIGKILL)" and got.last_exit_at == 3
    assert not due(got, 3.5) and due(got, 4.0)
    assert not due(restart_plan(got, StopRequested(), 4.0), 10.0)

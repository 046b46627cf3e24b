"""Crash-loop back-off follows Kubernetes' schedule."""

from __future__ import annotations

from kubelet.backoff import BackOff


def test_first_restart_is_immediate_then_doubles_to_the_cap() -> None:
    b = BackOff()
    t = 1000.0
    assert b.restart_at("k", finished_at=t, now=t) is None  # first crash: restart now
    b.record_restart("k", t)
    delays = []
    for _ in range(8):
        t += 1
        until = b.restart_at("k", finished_at=t, now=t)
        assert until is not None
        delays.append(until - t)
        t = until
        assert b.restart_at("k", finished_at=t - delays[-1], now=t) is None
        b.record_restart("k", t)
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]


def test_entry_expires_after_ten_quiet_minutes() -> None:
    b = BackOff()
    b.record_restart("k", 0)
    b.record_restart("k", 10)
    assert b.delay("k", 11) == 20
    # Ran for more than 10 minutes since the last restart: back to the start.
    assert b.restart_at("k", finished_at=700, now=700) is None
    b.record_restart("k", 700)
    assert b.delay("k", 701) == 10


def test_forget_by_prefix() -> None:
    b = BackOff()
    b.record_restart("uid-1/a", 0)
    b.record_restart("uid-2/a", 0)
    b.forget("uid-1/")
    assert b.delay("uid-1/a", 1) == 0 and b.delay("uid-2/a", 1) == 10

"""The load meter behind the member's batch window (kvstore.batching)."""

from __future__ import annotations

from kvstore.batching import BUSY_REQUESTS, LoadMeter


def test_one_client_never_makes_a_member_busy() -> None:
    meter = LoadMeter()
    for _ in range(1000):
        meter.observe(1)
        assert not meter.busy()
        meter.tick()


def test_a_peak_keeps_the_member_busy_while_few_requests_wait_at_wake_up() -> None:
    # Under load the loop wakes for the first request after a turn answered the rest:
    # the sample at that instant is small, the load is not.
    meter = LoadMeter()
    meter.observe(BUSY_REQUESTS + 40)
    meter.observe(1)
    assert meter.busy()
    meter.tick()
    meter.observe(2)
    assert meter.busy()  # remembered for the next tick interval
    meter.tick()
    meter.observe(2)
    assert not meter.busy()  # the burst is over


def test_threshold_is_inclusive() -> None:
    meter = LoadMeter(busy_requests=5)
    meter.observe(4)
    assert not meter.busy()
    meter.observe(5)
    assert meter.busy()

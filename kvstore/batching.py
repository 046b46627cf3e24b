"""When a member's loop is busy enough to batch: the load meter behind `KVNode`'s batch window.

Why a meter with memory and not the load at the instant of a wake-up: under heavy
load the loop wakes for the *first* request that arrives after a turn answered
the previous ones, so the requests waiting at that instant (and those the last
apply answered) are few even with 64 clients in flight -- the rest are on their
way back to their clients or still in gRPC. Deciding on that sample made the
member flip between two stable modes: small turns (few requests per log entry,
so more CPU per request, so requests spend longer outside the member, so the
samples stay small) and batched turns. Which mode a run settled in set put@64
throughput (0.6k/s to 1.6k/s on the same code). The peak seen during the last
tick interval (and the current one) measures the load the member is under, not
where the requests happen to be.

A lightly loaded member never reaches the threshold (one client keeps one
request in flight), so it never waits; after a burst the window is kept for at
most two tick intervals.
"""

from __future__ import annotations

BUSY_REQUESTS = 24
"""From this many requests in flight on a member, its loop batches."""


class LoadMeter:
    """Peak requests in flight (or applied by one turn) over the current and last tick interval."""

    def __init__(self, busy_requests: int = BUSY_REQUESTS) -> None:
        self.busy_requests = busy_requests
        self._current = 0
        self._previous = 0

    def observe(self, load: int) -> None:
        """Record the load now: requests waiting here, or requests one turn applied."""
        if load > self._current:
            self._current = load

    def tick(self) -> None:
        """A tick interval ended: what it saw is remembered for one more interval."""
        self._previous, self._current = self._current, 0

    def busy(self) -> bool:
        return max(self._current, self._previous) >= self.busy_requests

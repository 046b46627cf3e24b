"""Periodic auto-compaction: which revision has become `retention` old.

Why a separate, clock-free object: the decision is pure bookkeeping over
(time, revision) samples, so it takes the time as an argument. The async node
samples it on a timer and proposes the compaction (as leader only: the log
carries it to every member); tests and the simulator can drive it with any clock.
"""

from __future__ import annotations

from collections import deque


class Compactor:
    """Like etcd's periodic compactor: history younger than the retention is kept,
    so watchers and paginated lists resuming within it never see ErrCompacted."""

    def __init__(self, retention: float) -> None:
        self.retention = retention
        self._samples: deque[tuple[float, int]] = deque()

    def target(self, now: float, revision: int, compact_revision: int) -> int:
        """Record (now, revision); return the revision that is now `retention` old (0: none)."""
        self._samples.append((now, revision))
        target = 0
        while self._samples and self._samples[0][0] <= now - self.retention:
            target = self._samples.popleft()[1]
        return target if target > compact_revision else 0

    def interval(self) -> float:
        """How often to sample: a tenth of the retention, within [1 s, 5 min]."""
        return max(1.0, min(self.retention / 10, 300.0))

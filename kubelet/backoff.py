"""Crash-loop back-off for container restarts, with Kubernetes' numbers.

Why these rules: a crashing container must not spin the node, yet a container
that crashes once after running for a long time should come back at once.
Like the kubelet: the first restart is immediate, then each restart waits
10 s, 20 s, 40 s, ... capped at 5 min; an entry untouched for 10 min (twice the
cap) is forgotten, so a container that ran that long starts from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass

INITIAL_SECONDS = 10.0
MAX_SECONDS = 300.0


@dataclass
class _Entry:
    delay: float
    last_update: float


class BackOff:
    """Per-key exponential back-off; times are wall-clock seconds (time.time())."""

    def __init__(self, initial: float = INITIAL_SECONDS, maximum: float = MAX_SECONDS) -> None:
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, _Entry] = {}

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last_update > 2 * self.maximum:
            del self._entries[key]
            return None
        return entry

    def restart_at(self, key: str, finished_at: float, now: float) -> float | None:
        """When a container that exited at `finished_at` may restart; None = now."""
        entry = self._live(key, now)
        if entry is None or now - finished_at >= entry.delay:
            return None
        return finished_at + entry.delay

    def delay(self, key: str, now: float) -> float:
        """The current back-off for `key` (0 when none)."""
        entry = self._live(key, now)
        return entry.delay if entry else 0.0

    def current(self, key: str, now: float) -> float | None:
        """The back-off in force for `key`, None when none is recorded (or it expired):
        what the pure planner (`pod_actions`) needs to decide without this object."""
        entry = self._live(key, now)
        return entry.delay if entry else None

    def record_restart(self, key: str, now: float) -> None:
        """Called when a restart happens: the next one waits twice as long."""
        entry = self._live(key, now)
        if entry is None:
            self._entries[key] = _Entry(self.initial, now)
        else:
            entry.delay = min(entry.delay * 2, self.maximum)
            entry.last_update = now

    def forget(self, key_prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(key_prefix)]:
            del self._entries[key]

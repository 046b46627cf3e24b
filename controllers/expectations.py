"""Expectations: what a controller has asked the apiserver for and not yet seen.

Why: a controller's informer cache lags its own writes. Right after creating
three pods the cache may still show none, and a second reconcile would create
three more. So before acting, a controller records how many creations and
which deletions it expects for a controller key; the informer handlers mark
them observed as the events arrive; and `satisfied(key)` stays False (the
controller must not scale again) until everything was observed or the record
expired. Expiry (5 minutes by default, as in Kubernetes) is the safety net for
events that never arrive, e.g. a watch that was broken while the object came
and went.

Deletions are tracked by object key, not just counted: a pod is observed as
"deleted" both when its deletionTimestamp appears and when it is finally
removed, and counting both would over-satisfy the expectation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

EXPECTATIONS_TIMEOUT_SECONDS = 5 * 60.0


@dataclass
class Expectation:
    """Outstanding creations (a count) and deletions (object keys) of one controller key."""

    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    timestamp: float = 0.0

    @property
    def fulfilled(self) -> bool:
        return self.adds <= 0 and not self.deletes


class ControllerExpectations:
    """Per-controller-key creation/deletion expectations with a timeout.

    All methods are synchronous and cheap so informer handlers can call them.
    A lock keeps it safe even if a handler ever runs on another thread.
    """

    def __init__(
        self,
        timeout: float = EXPECTATIONS_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._records: dict[str, Expectation] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Expectation | None:
        with self._lock:
            rec = self._records.get(key)
            return None if rec is None else Expectation(rec.adds, set(rec.deletes), rec.timestamp)

    def satisfied(self, key: str) -> bool:
        """True when the controller may act on `key` again.

        No record (never expected anything, or deleted) is satisfied; so is a
        fulfilled record and an expired one (logged, because it means events
        were lost).
        """
        with self._lock:
            rec = self._records.get(key)
            if rec is None or rec.fulfilled:
                return True
            if self._clock() - rec.timestamp > self.timeout:
                log.warning(
                    "expectations expired",
                    extra={"key": key, "adds": rec.adds, "deletes": len(rec.deletes)},
                )
                return True
            return False

    def expect_creations(self, key: str, count: int) -> None:
        """Record that `count` creations are about to be issued (replaces the record)."""
        with self._lock:
            self._records[key] = Expectation(adds=count, timestamp=self._clock())

    def expect_deletions(self, key: str, object_keys: Iterable[str]) -> None:
        """Record that the objects with these keys are about to be deleted (replaces the record)."""
        with self._lock:
            self._records[key] = Expectation(deletes=set(object_keys), timestamp=self._clock())

    def creation_observed(self, key: str) -> None:
        """An informer saw one of the expected creations (or a create call failed)."""
        with self._lock:
            rec = self._records.get(key)
            if rec is not None and rec.adds > 0:
                rec.adds -= 1

    def lower_creations(self, key: str, count: int) -> None:
        """Creations that will never happen (skipped or failed); same as observing them."""
        with self._lock:
            rec = self._records.get(key)
            if rec is not None:
                rec.adds = max(0, rec.adds - count)

    def deletion_observed(self, key: str, object_key: str) -> None:
        """An informer saw the object go (or start terminating), or the delete call said NotFound."""
        with self._lock:
            rec = self._records.get(key)
            if rec is not None:
                rec.deletes.discard(object_key)

    def delete(self, key: str) -> None:
        """Forget a controller key entirely (its object is gone)."""
        with self._lock:
            self._records.pop(key, None)

"""The scheduling queue: active, backoff and unschedulable pods, like kube-scheduler's.

Why three sub-queues instead of one work queue:

* **active** -- pods to try now, highest priority first, then oldest first.
* **backoff** -- pods that failed recently wait 1 s, 2 s, 4 s ... (capped) so a
  pod that keeps failing cannot starve the others.
* **unschedulable** -- pods no node could take are parked, not retried in a hot
  loop. They move back when the cluster changes in a way that could help them:
  each parked pod remembers which plugins rejected it, and each plugin says
  which `ClusterEvent`s can undo its rejections (a node heartbeat changes
  nothing and retries nothing; a new node retries everyone). A periodic flush
  retries pods parked longer than `unschedulable_timeout` as a safety net.

A pod is "in flight" between `pop()` and `done()`/re-queueing. If a cluster
event arrives while a pod is in flight, the pod goes to backoff rather than
being parked, so that event is not lost for it (kube's "move request cycle").
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubelite.api import Pod
from scheduler.framework import ClusterEvent
from scheduler.resources import PodInfo, make_pod_info, pod_key


class QueueClosed(Exception):
    """Raised by `pop()` after `close()`."""


@dataclass(slots=True)
class QueuedPodInfo:
    """A pending pod and its scheduling history."""

    info: PodInfo
    timestamp: float  # when it last entered a queue (for backoff and the leftover flush)
    attempts: int = 0
    unschedulable_plugins: frozenset[str] = frozenset()
    seq: int = 0  # heap entry identity (lazy deletion)
    cycle: int = 0  # scheduling cycle in which it was last popped

    @property
    def pod(self) -> Pod:
        return self.info.pod

    @property
    def key(self) -> str:
        return self.info.key


def _priority(pod: Pod) -> int:
    value = getattr(pod.spec, "priority", None)
    return int(value) if isinstance(value, int) else 0


def _significant_change(old: Pod, new: Pod) -> bool:
    """Did the update change anything scheduling looks at? (Our own status writes do not.)"""
    return (old.spec != new.spec or old.metadata.labels != new.metadata.labels
            or old.metadata.annotations != new.metadata.annotations)


class SchedulingQueue:
    """Pending pods keyed by `namespace/name`; `pop()` is the only awaiting call."""

    def __init__(
        self,
        plugin_events: Callable[[str], frozenset[ClusterEvent]] = lambda _: frozenset(ClusterEvent),
        registered_events: frozenset[ClusterEvent] = frozenset(ClusterEvent),
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        unschedulable_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_backoff: Callable[[], None] = lambda: None,
    ) -> None:
        self._plugin_events = plugin_events
        self._on_backoff = on_backoff  # a pod entered backoff: whoever flushes it must be awake
        self._registered_events = registered_events
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self._clock = clock
        self._active: list[tuple[int, int, str]] = []  # (-priority, seq, key)
        self._active_map: dict[str, QueuedPodInfo] = {}
        self._backoff: list[tuple[float, int, str]] = []  # (expiry, seq, key)
        self._backoff_map: dict[str, QueuedPodInfo] = {}
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        # Parked pods no plugin in particular rejected (e.g. there were no nodes):
        # the only ones an unregistered event can move. May hold stale keys.
        self._parked_wildcard: set[str] = set()
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._seq = 0
        self.scheduling_cycle = 0
        self._move_request_cycle = -1
        self._wakeup = asyncio.Event()
        self._closed = False

    # --- sizes ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._active_map) + len(self._backoff_map) + len(self._unschedulable)

    def has_backoff(self) -> bool:
        return bool(self._backoff_map)

    def counts(self) -> dict[str, int]:
        return {"active": len(self._active_map), "backoff": len(self._backoff_map),
                "unschedulable": len(self._unschedulable), "in_flight": len(self._in_flight)}

    def where(self, key: str) -> str | None:
        """Which sub-queue holds `key` ("active", "backoff", "unschedulable", "in_flight")."""
        for name, store in (("active", self._active_map), ("backoff", self._backoff_map),
                            ("unschedulable", self._unschedulable), ("in_flight", self._in_flight)):
            if key in store:
                return name
        return None

    # --- internal moves ------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        qpi.seq = self._next_seq()
        self._active_map[qpi.key] = qpi
        heapq.heappush(self._active, (-_priority(qpi.pod), qpi.seq, qpi.key))
        self._wakeup.set()

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        if qpi.attempts <= 0:
            return qpi.timestamp
        duration = min(self.initial_backoff * float(1 << min(qpi.attempts - 1, 30)), self.max_backoff)
        return qpi.timestamp + duration

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        qpi.seq = self._next_seq()
        self._backoff_map[qpi.key] = qpi
        heapq.heappush(self._backoff, (self.backoff_expiry(qpi), qpi.seq, qpi.key))
        self._on_backoff()

    def _requeue(self, qpi: QueuedPodInfo) -> None:
        """Back to active, or to backoff if its last failure was too recent."""
        if self.backoff_expiry(qpi) > self._clock():
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    def _remove_queued(self, key: str) -> QueuedPodInfo | None:
        for store in (self._active_map, self._backoff_map, self._unschedulable):
            qpi = store.pop(key, None)
            if qpi is not None:
                return qpi  # heap entries are skipped lazily (seq no longer matches)
        return None

    # --- informer-driven changes ----------------------------------------------

    def add(self, pod: Pod) -> None:
        """A new pending pod (or one we had not seen pending): try it now."""
        key = pod_key(pod)
        if key in self._in_flight or key in self._active_map or key in self._backoff_map \
                or key in self._unschedulable:
            self.update(None, pod)
            return
        self._push_active(QueuedPodInfo(make_pod_info(pod), timestamp=self._clock()))

    def update(self, old: Pod | None, new: Pod) -> None:
        key = pod_key(new)
        info = make_pod_info(new)
        flying = self._in_flight.get(key)
        if flying is not None:
            flying.info = info
            return
        for store in (self._active_map, self._backoff_map):
            qpi = store.get(key)
            if qpi is not None:
                qpi.info = info
                return
        parked = self._unschedulable.get(key)
        if parked is not None:
            if old is None or _significant_change(old, new):
                del self._unschedulable[key]
                parked.info = info
                self._requeue(parked)
            else:
                parked.info = info
            return
        self._push_active(QueuedPodInfo(info, timestamp=self._clock()))

    def delete(self, pod: Pod) -> None:
        key = pod_key(pod)
        self._in_flight.pop(key, None)
        self._remove_queued(key)

    # --- the scheduling loop's side -------------------------------------------

    async def pop(self) -> QueuedPodInfo:
        """The next pod to schedule; waits while the active queue is empty."""
        while True:
            if self._closed:
                raise QueueClosed
            qpi = self.pop_nowait()
            if qpi is not None:
                return qpi
            self._wakeup.clear()
            await self._wakeup.wait()

    def pop_nowait(self) -> QueuedPodInfo | None:
        """Like `pop()` but None instead of waiting (for tests and batch draining)."""
        if self._closed:
            raise QueueClosed
        while self._active:
            _, seq, key = heapq.heappop(self._active)
            found = self._active_map.get(key)
            if found is not None and found.seq == seq:
                break
        else:
            return None  # only stale heap entries were left
        qpi = found
        del self._active_map[key]
        self.scheduling_cycle += 1
        qpi.cycle = self.scheduling_cycle
        qpi.attempts += 1
        self._in_flight[key] = qpi
        return qpi

    def done(self, key: str) -> None:
        """The pod left the scheduler's hands (bound, or dropped)."""
        self._in_flight.pop(key, None)

    def is_in_flight(self, key: str) -> bool:
        return key in self._in_flight

    def add_unschedulable(self, qpi: QueuedPodInfo, plugins: frozenset[str]) -> None:
        """Park a pod no node could take (unless it was deleted or re-added meanwhile)."""
        if self._in_flight.pop(qpi.key, None) is None:
            return  # deleted, or assigned by someone else, while in flight
        qpi.timestamp = self._clock()
        qpi.unschedulable_plugins = plugins
        if self._move_request_cycle >= qpi.cycle:
            self._push_backoff(qpi)  # the cluster changed during its cycle: retry after backoff
        else:
            self._unschedulable[qpi.key] = qpi
            if not plugins:
                self._parked_wildcard.add(qpi.key)

    def add_backoff(self, qpi: QueuedPodInfo) -> None:
        """Retry a pod after its backoff (an error, e.g. the bind failed)."""
        if self._in_flight.pop(qpi.key, None) is None:
            return
        qpi.timestamp = self._clock()
        self._push_backoff(qpi)

    def move_all_to_active(self, event: ClusterEvent) -> int:
        """Retry parked pods whose rejecting plugins care about `event`. Returns how many moved.

        Events no plugin registered for (e.g. AssignedPodAdd without an affinity
        plugin) only retry pods that no plugin in particular rejected (no nodes).
        """
        moved = 0
        if event not in self._registered_events and event is not ClusterEvent.UNSCHEDULABLE_TIMEOUT:
            # Cheap path (an assigned-pod event per bind must not scan every parked pod).
            for key in list(self._parked_wildcard):
                self._parked_wildcard.discard(key)
                parked = self._unschedulable.get(key)
                if parked is not None and not parked.unschedulable_plugins:
                    del self._unschedulable[key]
                    self._requeue(parked)
                    moved += 1
            return moved
        for key, qpi in list(self._unschedulable.items()):
            if event is ClusterEvent.UNSCHEDULABLE_TIMEOUT or self._interested(qpi, event):
                del self._unschedulable[key]
                self._requeue(qpi)
                moved += 1
        self._move_request_cycle = self.scheduling_cycle
        return moved

    def _interested(self, qpi: QueuedPodInfo, event: ClusterEvent) -> bool:
        if not qpi.unschedulable_plugins:
            return True
        return any(event in self._plugin_events(p) for p in qpi.unschedulable_plugins)

    # --- periodic housekeeping ----------------------------------------------------

    def flush_backoff_completed(self) -> int:
        now = self._clock()
        moved = 0
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            qpi = self._backoff_map.get(key)
            if qpi is None or qpi.seq != seq:
                continue
            del self._backoff_map[key]
            self._push_active(qpi)
            moved += 1
        return moved

    def flush_unschedulable_leftover(self) -> int:
        """Retry pods parked for at least `unschedulable_timeout` (missed or unmodelled events)."""
        now = self._clock()
        moved = 0
        for key, qpi in list(self._unschedulable.items()):
            if now - qpi.timestamp >= self.unschedulable_timeout:
                del self._unschedulable[key]
                self._requeue(qpi)
                moved += 1
        return moved

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

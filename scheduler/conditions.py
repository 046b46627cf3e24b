"""Writes `PodScheduled=False reason=Unschedulable` onto pods that did not fit.

Why in the background and coalesced: the scheduling loop must not wait on the
API between pods. A pod that is retried often only needs its *latest* message
written, so requests for the same pod collapse into one pending write, at most
one write per pod is in flight, and nothing is written when the pod already
shows the same condition (our own write comes back through the informer and
must not cause another).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kubelite.api import Pod, PodCondition, now
from kubelite.api.errors import ApiError, Conflict, NotFound
from kubelite.api.podutil import has_condition, set_condition
from kubelite.client import ApiClient
from scheduler.resources import pod_key

log = logging.getLogger(__name__)

POD_SCHEDULED = "PodScheduled"
UNSCHEDULABLE = "Unschedulable"


def unschedulable_condition(message: str) -> PodCondition:
    return PodCondition(type=POD_SCHEDULED, status="False", reason=UNSCHEDULABLE, message=message,
                        last_transition_time=now())


class ConditionWriter:
    """Coalescing, bounded-concurrency writer of the PodScheduled condition."""

    def __init__(self, client: ApiClient, still_pending: Callable[[Pod], bool] = lambda _: True,
                 concurrency: int = 8) -> None:
        self.client = client
        self._still_pending = still_pending
        self._desired: dict[str, tuple[Pod, PodCondition]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self.writes = 0

    def request(self, pod: Pod, condition: PodCondition) -> None:
        """Ask for `condition` on `pod` (the latest cached version). Never blocks."""
        if has_condition(pod.status, condition):
            return
        key = pod_key(pod)
        self._desired[key] = (pod, condition)
        if key not in self._tasks:
            task = asyncio.get_running_loop().create_task(self._drain(key))
            self._tasks[key] = task

    async def _drain(self, key: str) -> None:
        try:
            while key in self._desired:
                pod, condition = self._desired.pop(key)
                async with self._slots:
                    await self._write(pod, condition)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("writing pod condition failed", extra={"pod": key})
        finally:
            self._tasks.pop(key, None)

    async def _write(self, pod: Pod, condition: PodCondition) -> None:
        obj = pod.copy_deep()
        uid = pod.metadata.uid
        for attempt in range(5):
            if obj.spec.node_name or obj.metadata.deletion_timestamp or not self._still_pending(obj):
                return  # scheduled or going away meanwhile: the condition would be stale
            if has_condition(obj.status, condition):
                return
            # A copy: the shared setter keeps the transition time when only the message changed.
            set_condition(obj.status.conditions, condition.copy_deep())
            try:
                await self.client.update_status(obj)
                self.writes += 1
                return
            except Conflict:
                log.debug("conflict writing PodScheduled, refetching", extra={"pod": pod_key(pod), "attempt": attempt})
            except NotFound:
                return
            except ApiError as exc:
                log.warning("could not write PodScheduled condition", extra={"pod": pod_key(pod), "error": str(exc)})
                return
            try:
                obj = await self.client.get(Pod, pod.metadata.name or "", pod.metadata.namespace or "default")
            except NotFound:
                return
            if uid and obj.metadata.uid != uid:
                return  # a different pod of the same name

    async def close(self) -> None:
        """Cancel pending writes (shutdown); the next scheduler will redo them."""
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._desired.clear()

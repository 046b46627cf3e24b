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
from kubelite.client import ApiClient
from scheduler.resources import pod_key

log = logging.getLogger(__name__)

POD_SCHEDULED = "PodScheduled"
UNSCHEDULABLE = "Unschedulable"


def unschedulable_condition(message: str) -> PodCondition:
    return PodCondition(type=POD_SCHEDULED, status="False", reason=UNSCHEDULABLE, message=message,
                        last_transition_time=now())


def has_condition(pod: Pod, wanted: PodCondition) -> bool:
    """Does the pod already carry this condition (ignoring timestamps)?"""
    for c in pod.status.conditions:
        if c.type == wanted.type:
            return c.status == wanted.status and c.reason == wanted.reason and c.message == wanted.message
    return False


def set_condition(pod: Pod, wanted: PodCondition) -> bool:
    """Put `wanted` into the pod's conditions in place; False if already there.

    The transition time is kept when only the message changes, as Kubernetes does.
    """
    if has_condition(pod, wanted):
        return False
    conditions = pod.status.conditions
    for i, c in enumerate(conditions):
        if c.type == wanted.type:
            if c.status == wanted.status and c.last_transition_time:
                wanted = wanted.model_copy(update={"last_transition_time": c.last_transition_time})
            conditions[i] = wanted
            return True
    conditions.append(wanted)
    return True


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
        if has_condition(pod, condition):
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
            if not set_condition(obj, condition):
                return
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

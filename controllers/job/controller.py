"""The Job controller: runs pods until `completions` succeed, or gives up.

Handlers only enqueue keys (pod events map to the owning Job). `reconcile`
reads the Job's pods from the cache, asks `controllers.job.plan.decide` what to
do (create, delete, which conditions), performs it under expectations, and
writes status only when it changed. Time-based rules (activeDeadlineSeconds,
retry back-off) requeue the key for the moment they fall due.
"""

from __future__ import annotations

import logging

from controllers.base import ControllerContext, selector_matcher
from controllers.job.plan import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    decide,
    new_pod,
)
from controllers.podowner import PodOwnerController
from kubelite.api import Job, Pod
from kubelite.api.selectors import LabelMatcher

log = logging.getLogger(__name__)


class JobController(PodOwnerController[Job], owner=Job):
    name = "job"

    def __init__(self, ctx: ControllerContext, *, backoff_base: float = BACKOFF_BASE_SECONDS,
                 backoff_max: float = BACKOFF_MAX_SECONDS) -> None:
        super().__init__(ctx)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

    def selector(self, owner: Job) -> LabelMatcher | None:
        """Only a user-given selector adopts orphans; by default a Job owns just the pods it made."""
        return selector_matcher(owner.spec.selector)

    async def reconcile(self, key: str) -> None:
        job = self.owner_informer.store.get(key)
        if job is None:
            self.expectations.delete(key)
            return
        pods = await self.claim_pods(job)
        decision = decide(job, pods, self.clock(), self.backoff_base, self.backoff_max)
        error: Exception | None = None
        if job.metadata.deletion_timestamp is None and self.expectations.satisfied(key):
            try:
                await self._act(job, key, decision.create, decision.delete)
            except Exception as exc:  # still write status below, then retry
                error = exc
        elif decision.create or decision.delete:
            decision.requeue_after = None  # the pending expectations' events will requeue us
        for type_, reason, message in decision.events:  # emitted when a condition first appears
            self.recorder.event(job, type_, reason, message)
        await self.write_status(job, job.status, decision.status)
        if error is not None:
            raise error
        if decision.requeue_after is not None:
            self.queue.add_after(key, decision.requeue_after)

    async def _act(self, job: Job, key: str, create: int, delete: list[Pod]) -> None:
        if delete:
            await self.delete_pods(job, key, delete)
        if create:
            await self.create_pods(job, key, create, lambda _: new_pod(job))


"""The CronJob controller: creates a Job for each scheduled time.

Handlers only enqueue keys (a Job event maps to the CronJob controlling it).
`reconcile` asks `controllers.cronjob.plan.decide` what is due, deletes Jobs
(Replace policy, history limits) with background propagation so the garbage
collector removes their pods, creates the Job, writes status only when it
changed, and requeues itself for the next scheduled time.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext, controlled_by
from controllers.cronjob.plan import CRONJOB_KIND, decide, job_ref
from controllers.informers import OWNER_UID_INDEX
from kubelite.api import Job, object_key
from kubelite.api.batch import CronJob
from kubelite.api.errors import AlreadyExists, NotFound
from kubelite.client import Informer

log = logging.getLogger(__name__)


class CronJobController(Controller):
    name = "cronjob"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.recorder = self.own_recorder()
        self.cron_informer: Informer[CronJob] = ctx.factory.informer(CronJob)
        self.job_informer: Informer[Job] = ctx.factory.informer(Job)
        self.cron_informer.add_handlers(self.enqueue, lambda _old, new: self.enqueue(new), self.enqueue)
        self.job_informer.add_handlers(self._job_event, lambda _old, new: self._job_event(new), self._job_event)

    def _job_event(self, job: Job) -> None:
        owner = controlled_by(job, self.cron_informer.store, CRONJOB_KIND)
        if owner is not None:
            self.enqueue(owner)

    async def reconcile(self, key: str) -> None:
        cj = self.cron_informer.store.get(key)
        if cj is None:
            return
        uid = cj.metadata.uid or ""
        jobs = [j for j in self.job_informer.store.by_index(OWNER_UID_INDEX, uid)
                if (ref := j.metadata.controller_ref()) is not None and ref.uid == uid]
        now = self.clock()
        decision = decide(cj, jobs, now)
        for type_, reason, message in decision.events:
            self.recorder.event(cj, type_, reason, message)
        for job in decision.delete_active:
            await self._delete(cj, job, "SuccessfulDelete", f"Deleted job {job.metadata.name}")
        for job in decision.delete_history:
            await self._delete(cj, job, "SuccessfulDelete", f"Deleted job {job.metadata.name}")
        status = decision.status
        if decision.create is not None:
            try:
                created = await self.client.create(decision.create)
            except AlreadyExists:
                created = None  # made by an earlier pass whose status write was lost
            except Exception as exc:
                self.recorder.event(cj, "Warning", "FailedCreate", f"Error creating job: {exc}")
                raise
            if created is not None:
                status.active.append(job_ref(created))
                self.recorder.event(cj, "Normal", "SuccessfulCreate", f"Created job {created.metadata.name}")
                log.info("created job", extra={"cronjob": key, "job": created.metadata.name})
        if status.to_dict() != cj.status.to_dict():
            updated = cj.copy_deep()
            updated.status = status
            try:
                await self.client.update_status(updated)
            except NotFound:
                return
        if decision.requeue_after is not None:
            self.queue.add_after(key, decision.requeue_after)

    async def _delete(self, cj: CronJob, job: Job, reason: str, message: str) -> None:
        try:
            await self.client.delete(Job, job.metadata.name or "", job.metadata.namespace or "default",
                                     propagation_policy="Background", precondition_uid=job.metadata.uid)
        except NotFound:
            return
        self.recorder.event(cj, "Normal", reason, message)
        log.info("deleted job", extra={"cronjob": object_key(cj), "job": job.metadata.name})

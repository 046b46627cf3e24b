"""Pure CronJob decisions: which scheduled time to run now, what to clean up.

Why pure: missed schedules, startingDeadlineSeconds, the three concurrency
policies, suspend and history limits are all functions of (CronJob, its Jobs,
now); with a fixed clock each is a unit test.

Rules (as Kubernetes' CronJob controller):
* the times due are those after `status.lastScheduleTime` (or the creation
  time) up to now; only the most recent one is started, and only if it is
  not older than `startingDeadlineSeconds`;
* `Forbid` skips a run while a Job is active (the time stays due until the
  deadline passes), `Replace` deletes the active Jobs first, `Allow` just runs;
* the Job is named `<cronjob>-<scheduled time in minutes since the epoch>`,
  so a run is never created twice;
* finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit
  are deleted, oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controllers.job.plan import COMPLETE, FAILED
from controllers.podutil import make_controller_ref
from kubelite.api import Job, ObjectMeta, ObjectReference
from kubelite.api.batch import CronJob, CronJobStatus
from kubelite.api.cron import CronError, Schedule, parse_schedule
from kubelite.api.podutil import creation_time
from kubelite.api.timeutil import format_time, parse_time_or_none

CRONJOB_KIND = "CronJob"
CRONJOB_API_VERSION = "batch/v1"
SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
CRONJOB_NAME_LABEL = "batch.kubernetes.io/cronjob-name"
MAX_MISSED = 100
_WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=367), timedelta(days=1900))


def job_name(cj: CronJob, scheduled: datetime) -> str:
    return f"{cj.metadata.name}-{int(scheduled.timestamp()) // 60}"


def zone_of(cj: CronJob) -> tzinfo | None:
    if not cj.spec.time_zone:
        return None
    try:
        return ZoneInfo(cj.spec.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def finished_type(job: Job) -> str | None:
    """"Complete" or "Failed" once the Job finished, else None."""
    for cond in job.status.conditions:
        if cond.type in (COMPLETE, FAILED) and cond.status == "True":
            return cond.type
    return None


def _count_due(schedule: Schedule, zone: tzinfo | None, earliest: datetime, now: datetime) -> int:
    count = 0
    t = schedule.next_after(earliest, zone)
    while t is not None and t <= now and count <= MAX_MISSED:
        count += 1
        t = schedule.next_after(t, zone)
    return count


def most_recent_due(schedule: Schedule, zone: tzinfo | None, earliest: datetime,
                    now: datetime) -> tuple[datetime | None, int]:
    """(latest time in (earliest, now], number due capped at MAX_MISSED+1).

    Searches growing windows back from now so a minutely schedule that was
    missed for weeks costs little.
    """
    due = _count_due(schedule, zone, earliest, now)
    if due == 0:
        return None, 0
    for window in (*_WINDOWS, now - earliest):
        start = max(earliest, now - window)
        latest = None
        t = schedule.next_after(start, zone)
        while t is not None and t <= now:
            latest = t
            t = schedule.next_after(t, zone)
        if latest is not None:
            return latest, due
    return None, 0  # unreachable: `due` > 0 means the last window finds it


def job_from_template(cj: CronJob, scheduled: datetime) -> Job:
    template = cj.spec.job_template
    labels = dict(template.metadata.labels)
    annotations = dict(template.metadata.annotations)
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = format_time(scheduled)
    labels.setdefault(CRONJOB_NAME_LABEL, cj.metadata.name or "")
    meta = ObjectMeta(
        name=job_name(cj, scheduled),
        namespace=cj.metadata.namespace,
        labels=labels,
        annotations=annotations,
        owner_references=[make_controller_ref(cj, CRONJOB_API_VERSION, CRONJOB_KIND)],
    )
    return Job(metadata=meta, spec=template.spec.copy_deep())


def job_ref(job: Job) -> ObjectReference:
    """No resourceVersion: the active list must not change (and be rewritten) on every Job update."""
    return ObjectReference(kind="Job", namespace=job.metadata.namespace, name=job.metadata.name,
                           uid=job.metadata.uid, api_version="batch/v1")


def _started(job: Job) -> datetime:
    scheduled = parse_time_or_none(job.metadata.annotations.get(SCHEDULED_TIMESTAMP_ANNOTATION))
    return scheduled or parse_time_or_none(job.status.start_time) or creation_time(job.metadata)


@dataclass
class CronDecision:
    create: Job | None = None
    delete_active: list[Job] = field(default_factory=list)  # Replace policy
    delete_history: list[Job] = field(default_factory=list)
    status: CronJobStatus = field(default_factory=CronJobStatus)
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)


def history_to_delete(cj: CronJob, jobs: Sequence[Job]) -> list[Job]:
    out: list[Job] = []
    for kind, limit in ((COMPLETE, cj.spec.successful_jobs_history_limit),
                        (FAILED, cj.spec.failed_jobs_history_limit)):
        if limit is None:
            continue
        done = sorted((j for j in jobs if finished_type(j) == kind and j.metadata.deletion_timestamp is None),
                      key=lambda j: (_started(j), j.metadata.name or ""))
        out.extend(done[: max(0, len(done) - limit)])
    return out


def decide(cj: CronJob, jobs: Sequence[Job], now: datetime) -> CronDecision:
    """`jobs` are the Jobs this CronJob controls (from the cache)."""
    active = sorted((j for j in jobs if finished_type(j) is None and j.metadata.deletion_timestamp is None),
                    key=lambda j: j.metadata.name or "")
    status = CronJobStatus(
        active=[job_ref(j) for j in active],
        last_schedule_time=cj.status.last_schedule_time,
        last_successful_time=cj.status.last_successful_time,
    )
    successes = [j.status.completion_time for j in jobs if finished_type(j) == COMPLETE and j.status.completion_time]
    if successes:
        latest = max(successes, key=lambda t: parse_time_or_none(t) or now)
        known = parse_time_or_none(status.last_successful_time)
        if known is None or (parse_time_or_none(latest) or now) > known:
            status.last_successful_time = latest
    out = CronDecision(status=status, delete_history=history_to_delete(cj, jobs))
    if cj.spec.suspend or cj.metadata.deletion_timestamp is not None:
        return out
    try:
        schedule = parse_schedule(cj.spec.schedule)
    except CronError as exc:
        out.events.append(("Warning", "UnparseableSchedule", f"unparseable schedule {cj.spec.schedule!r}: {exc}"))
        return out
    zone = zone_of(cj)
    following = schedule.next_after(now, zone)
    if following is not None:
        out.requeue_after = (following - now).total_seconds() + 0.1

    earliest = parse_time_or_none(cj.status.last_schedule_time) or creation_time(cj.metadata)
    deadline = cj.spec.starting_deadline_seconds
    if deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=deadline))
    scheduled, due = most_recent_due(schedule, zone, earliest, now)
    if scheduled is None:
        return out
    if due > MAX_MISSED:
        out.events.append(("Warning", "TooManyMissedTimes",
                           f"too many missed start times: > {MAX_MISSED}; starting the most recent one"))
    name = job_name(cj, scheduled)
    if any(j.metadata.name == name for j in jobs):
        status.last_schedule_time = format_time(scheduled)  # already created (status write was lost)
        return out
    policy = cj.spec.concurrency_policy or "Allow"
    if policy == "Forbid" and active:
        # Stays due (lastScheduleTime unchanged) until the active Job finishes or the deadline passes.
        out.events.append(("Normal", "JobAlreadyActive",
                           "Not starting job because prior execution is running and concurrency policy is Forbid"))
        return out
    if policy == "Replace":
        out.delete_active = list(active)
        status.active = []
    out.create = job_from_template(cj, scheduled)
    status.last_schedule_time = format_time(scheduled)
    return out

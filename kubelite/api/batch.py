"""batch/v1 CronJob: a Job template run on a cron schedule.

Why its own module: Job lives with the other workload kinds in `api.apps`;
CronJob adds the schedule model and its own defaulting and validation, which
are pure functions of the object and are kept next to the model so the kind
is one self-contained piece (`api.defaults` / `api.validation` dispatch here
and add the Job template's own rules).
"""

from __future__ import annotations

from pydantic import Field

from kubelite.api.apps import JobSpec
from kubelite.api.base import Int32, Int64, KubeModel
from kubelite.api.cron import schedule_error
from kubelite.api.errors import StatusCause
from kubelite.api.meta import ObjectMeta, ObjectReference, Resource

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
SCHEDULE_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MAX_CRONJOB_NAME = 52
"""Kubernetes' limit: the Job name adds "-" and up to 11 digits of minutes, and must stay <= 63."""


class JobTemplateSpec(KubeModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: JobSpec = Field(default_factory=JobSpec)


class CronJobSpec(KubeModel):
    schedule: str = ""
    time_zone: str | None = None
    starting_deadline_seconds: Int64 | None = None
    concurrency_policy: str | None = None  # Allow (default), Forbid, Replace
    suspend: bool | None = None
    job_template: JobTemplateSpec = Field(default_factory=JobTemplateSpec)
    successful_jobs_history_limit: Int32 | None = None
    failed_jobs_history_limit: Int32 | None = None


class CronJobStatus(KubeModel):
    active: list[ObjectReference] = Field(default_factory=list)
    last_schedule_time: str | None = None
    last_successful_time: str | None = None


class CronJob(Resource):
    api_version: str = "batch/v1"
    kind: str = "CronJob"
    spec: CronJobSpec = Field(default_factory=CronJobSpec)
    status: CronJobStatus = Field(default_factory=CronJobStatus)


def default_cron_job(obj: CronJob) -> None:
    """Kubernetes' CronJob defaults (`api.defaults` adds the Job template's)."""
    spec = obj.spec
    if spec.concurrency_policy is None:
        spec.concurrency_policy = "Allow"
    if spec.suspend is None:
        spec.suspend = False
    if spec.successful_jobs_history_limit is None:
        spec.successful_jobs_history_limit = 3
    if spec.failed_jobs_history_limit is None:
        spec.failed_jobs_history_limit = 1


def validate_cron_job(obj: CronJob, out: list[StatusCause]) -> None:
    """Field causes of the CronJob's own fields (`api.validation` adds the Job template's)."""
    spec = obj.spec
    name = obj.metadata.name or ""
    if len(name) > MAX_CRONJOB_NAME:
        out.append(StatusCause.invalid("metadata.name", name, f"must be no more than {MAX_CRONJOB_NAME} characters"))
    if not spec.schedule:
        out.append(StatusCause.required("spec.schedule"))
    else:
        err = schedule_error(spec.schedule)
        if err:
            out.append(StatusCause.invalid("spec.schedule", spec.schedule, err))
        elif "TZ=" in spec.schedule or "CRON_TZ=" in spec.schedule:
            out.append(StatusCause.invalid("spec.schedule", spec.schedule,
                                           "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    if spec.time_zone is not None and not _zone_exists(spec.time_zone):
        out.append(StatusCause.invalid("spec.timeZone", spec.time_zone, "unknown time zone"))
    if spec.concurrency_policy is not None and spec.concurrency_policy not in CONCURRENCY_POLICIES:
        out.append(StatusCause.not_supported("spec.concurrencyPolicy", spec.concurrency_policy,
                                             CONCURRENCY_POLICIES))
    for field, value in (("startingDeadlineSeconds", spec.starting_deadline_seconds),
                         ("successfulJobsHistoryLimit", spec.successful_jobs_history_limit),
                         ("failedJobsHistoryLimit", spec.failed_jobs_history_limit)):
        if value is not None and value < 0:
            out.append(StatusCause.invalid(f"spec.{field}", value, "must be greater than or equal to 0"))


def _zone_exists(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True

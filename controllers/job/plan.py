"""Pure Job decisions: how many pods to run, when the Job is complete or failed.

Why pure: completions, parallelism, backoffLimit, activeDeadlineSeconds,
suspend and the retry back-off interact; each rule is a unit test with a fixed
clock here, and the controller only carries the result out.

Rules (Kubernetes' NonIndexed Jobs):
* active pods wanted = min(parallelism, completions - succeeded); without
  `completions`, `parallelism` pods until one succeeds, then no new ones.
* Complete (condition `Complete`, `completionTime`) when succeeded reaches
  completions (or, without completions, a pod succeeded and none is active);
  leftover active pods are deleted.
* Failed with reason `BackoffLimitExceeded` when failed pods exceed
  backoffLimit (restartPolicy OnFailure: when the container restarts of the
  active pods reach it), `DeadlineExceeded` when active longer than
  activeDeadlineSeconds; active pods are deleted.
* A failed pod is replaced after a back-off of base * 2^(failures-1) (capped),
  counted from the last failure, like the Job controller's pod back-off.
* Counts come from the pods the Job owns; they never go down, so deleting a
  finished pod by hand does not undo progress (kubelite has no job-tracking
  finalizers, so a pod deleted before it was seen finishing is not counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controllers.podutil import pod_from_template, pods_to_delete
from controllers.slowstart import capped
from kubelite.api import Job, JobCondition, JobStatus, Pod
from kubelite.api.podutil import condition_true, creation_time, has_condition, is_pod_ready, set_condition
from kubelite.api.timeutil import format_time, parse_time_or_none

JOB_KIND = "Job"
JOB_API_VERSION = "batch/v1"
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
DEFAULT_BACKOFF_LIMIT = 6
BACKOFF_BASE_SECONDS = 10.0
BACKOFF_MAX_SECONDS = 360.0

COMPLETE = "Complete"
FAILED = "Failed"
SUSPENDED = "Suspended"


def is_finished(job: Job) -> bool:
    return condition_true(job.status, COMPLETE) or condition_true(job.status, FAILED)


def new_pod(job: Job) -> Pod:
    """A pod of the Job: the template plus job-name/controller-uid labels, owned by the Job."""
    labels = {key: job.metadata.name or "" for key in JOB_NAME_LABELS}
    labels.update({key: job.metadata.uid or "" for key in CONTROLLER_UID_LABELS})
    return pod_from_template(job, job.spec.template, JOB_API_VERSION, JOB_KIND, labels)


@dataclass
class PodCounts:
    active: list[Pod] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    terminating: int = 0
    ready: int = 0
    restarts: int = 0  # container restarts of active pods (restartPolicy OnFailure)
    last_failure: datetime | None = None


def _finished_at(pod: Pod) -> datetime:
    times = [parse_time_or_none(cs.state.terminated.finished_at) for cs in pod.status.container_statuses
             if cs.state.terminated is not None]
    known = [t for t in times if t is not None]
    return max(known) if known else creation_time(pod.metadata)


def count_pods(pods: Sequence[Pod]) -> PodCounts:
    out = PodCounts()
    for pod in pods:
        if pod.status.phase == "Succeeded":
            out.succeeded += 1
        elif pod.status.phase == "Failed":
            out.failed += 1
            when = _finished_at(pod)
            out.last_failure = when if out.last_failure is None else max(out.last_failure, when)
        elif pod.metadata.deletion_timestamp is not None:
            out.terminating += 1
        else:
            out.active.append(pod)
            out.ready += is_pod_ready(pod)
            out.restarts += sum(cs.restart_count for cs in [*pod.status.init_container_statuses,
                                                             *pod.status.container_statuses])
    return out


@dataclass
class JobDecision:
    create: int = 0
    delete: list[Pod] = field(default_factory=list)
    status: JobStatus = field(default_factory=JobStatus)
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)


def _set_condition(status: JobStatus, type_: str, value: str, reason: str, message: str, now: datetime) -> bool:
    """Like the Job controller: an unchanged condition is left alone (its probe time too), so an
    idle Job does not rewrite its status every sync; a changed one is stamped with `now`."""
    stamp = format_time(now)
    wanted = JobCondition(type=type_, status=value, reason=reason, message=message,
                          last_probe_time=stamp, last_transition_time=stamp)
    if has_condition(status, wanted):
        return False
    return set_condition(status.conditions, wanted)


def backoff_delay(failures: int, base: float, cap: float) -> float:
    if failures <= 0:
        return 0.0
    return float(min(base * 2 ** min(failures - 1, 30), cap))


def decide(job: Job, pods: Sequence[Pod], now: datetime, backoff_base: float = BACKOFF_BASE_SECONDS,
           backoff_max: float = BACKOFF_MAX_SECONDS) -> JobDecision:
    """What to do with `job` given its owned pods at `now`."""
    spec = job.spec
    counts = count_pods(pods)
    previous = job.status
    status = JobStatus(
        conditions=[c.copy_deep() for c in previous.conditions],
        start_time=previous.start_time,
        completion_time=previous.completion_time,
        succeeded=max(previous.succeeded or 0, counts.succeeded),
        failed=max(previous.failed or 0, counts.failed),
        terminating=counts.terminating,
        ready=counts.ready,
        active=len(counts.active),
    )
    out = JobDecision(status=status)
    if is_finished(job):
        out.delete = list(counts.active)
        return out

    suspended = bool(spec.suspend)
    if suspended:
        out.delete = list(counts.active)
        if _set_condition(status, SUSPENDED, "True", "JobSuspended", "Job suspended", now):
            out.events.append(("Normal", "Suspended", "Job suspended"))
        return out
    if condition_true(job.status, SUSPENDED):
        _set_condition(status, SUSPENDED, "False", "JobResumed", "Job resumed", now)
        out.events.append(("Normal", "Resumed", "Job resumed"))
        status.start_time = format_time(now)  # the deadline counts from the resume (Kubernetes)
    if status.start_time is None:
        status.start_time = format_time(now)

    # --- failure ---
    backoff_limit = DEFAULT_BACKOFF_LIMIT if spec.backoff_limit is None else spec.backoff_limit
    on_failure = spec.template.spec.restart_policy == "OnFailure"
    failure: tuple[str, str] | None = None
    if status.failed is not None and status.failed > backoff_limit:
        failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    elif on_failure and counts.restarts > 0 and (
            counts.restarts >= backoff_limit if backoff_limit > 0 else counts.restarts > 0):
        failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    deadline: datetime | None = None
    started = parse_time_or_none(status.start_time)
    if spec.active_deadline_seconds is not None and started is not None:
        deadline = started + timedelta(seconds=spec.active_deadline_seconds)
        if failure is None and now >= deadline:
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
    if failure is not None:
        reason, message = failure
        out.delete = list(counts.active)
        _set_condition(status, FAILED, "True", reason, message, now)
        out.events.append(("Warning", reason, message))
        status.active = 0
        return out

    # --- completion ---
    succeeded = status.succeeded or 0
    completions = spec.completions
    complete = succeeded >= completions if completions is not None else (succeeded > 0 and not counts.active)
    if complete:
        out.delete = list(counts.active)
        status.active = 0
        status.completion_time = format_time(now)
        _set_condition(status, COMPLETE, "True", "CompletionsReached", "Reached expected number of succeeded pods",
                       now)
        out.events.append(("Normal", "Completed", "Job completed"))
        return out

    # --- parallelism ---
    parallelism = 1 if spec.parallelism is None else spec.parallelism
    if completions is None:
        # After a first success nothing new starts, and the running workers are left to finish.
        want = len(counts.active) if succeeded > 0 else parallelism
    else:
        want = max(0, min(parallelism, completions - succeeded))
    active = len(counts.active)
    if want > active:
        delay = 0.0
        if counts.last_failure is not None and not on_failure:
            ready_at = counts.last_failure + timedelta(seconds=backoff_delay(status.failed or 0, backoff_base,
                                                                             backoff_max))
            delay = (ready_at - now).total_seconds()
        if delay > 0:
            out.requeue_after = delay
        else:
            out.create = capped(want - active)
    elif want < active:
        out.delete = pods_to_delete(counts.active, active - want)
    status.active = active + out.create - len(out.delete)  # what there will be (as Kubernetes reports)
    if deadline is not None:
        remaining = (deadline - now).total_seconds() + 0.1
        out.requeue_after = remaining if out.requeue_after is None else min(out.requeue_after, remaining)
    return out

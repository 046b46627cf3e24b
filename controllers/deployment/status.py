"""Pure computation of a Deployment's status and its Available/Progressing conditions.

Why its own module: status is what `kctl get deploy` and `kctl rollout status`
show, and it must only change when something really changed (conditions
keep their timestamps unless their status or reason moves), otherwise every
reconcile would write the Deployment and wake every watcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from controllers.deployment.templatehash import (
    desired_replicas,
    max_unavailable,
    sum_spec_replicas,
    sum_status,
)
from kubelite.api import Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet
from kubelite.api.podutil import get_condition, transition_time
from kubelite.api.timeutil import format_time, parse_time_or_none

AVAILABLE = "Available"
PROGRESSING = "Progressing"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_CREATED = "NewReplicaSetCreated"
DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600


def set_condition(
    status: DeploymentStatus, type_: str, cond_status: str, reason: str, message: str, now: datetime,
    *, touch: bool = False,
) -> None:
    """Set a condition in place, Kubernetes style.

    Same status and reason: left alone (no timestamp churn) unless `touch`
    asks to record progress (lastUpdateTime). Same status, other reason: the
    transition time is kept. Otherwise both times move to `now`.
    """
    current = get_condition(status, type_)
    stamp = format_time(now)
    if current is not None and current.status == cond_status and current.reason == reason:
        if touch:
            current.last_update_time = stamp
            current.message = message
        return
    transition = transition_time(current, cond_status, stamp)
    new = DeploymentCondition(
        type=type_, status=cond_status, reason=reason, message=message,
        last_update_time=stamp, last_transition_time=transition,
    )
    status.conditions = [c for c in status.conditions if c.type != type_] + [new]


def calculate_status(d: Deployment, all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet | None, now: datetime) -> DeploymentStatus:
    """Counts from the ReplicaSets' own statuses, plus the Available condition."""
    available = sum_status(all_rss, "available_replicas")
    unavailable = max(0, sum_spec_replicas(all_rss) - available)
    status = DeploymentStatus(
        observed_generation=d.metadata.generation,
        replicas=sum_status(all_rss, "replicas"),
        updated_replicas=sum_status([new_rs], "replicas"),
        ready_replicas=sum_status(all_rss, "ready_replicas"),
        available_replicas=available,
        unavailable_replicas=unavailable,
        collision_count=d.status.collision_count,
        conditions=[c.copy_deep() for c in d.status.conditions],
    )
    if available >= desired_replicas(d) - max_unavailable(d):
        set_condition(status, AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now)
    else:
        set_condition(status, AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.", now)
    return status


def deployment_complete(d: Deployment, status: DeploymentStatus) -> bool:
    """Every replica is updated and available, and the latest spec was observed."""
    replicas = desired_replicas(d)
    return (
        (status.updated_replicas or 0) == replicas
        and (status.replicas or 0) == replicas
        and (status.available_replicas or 0) == replicas
        and (status.observed_generation or 0) >= (d.metadata.generation or 0)
    )


def deployment_progressing(old: DeploymentStatus, new: DeploymentStatus) -> bool:
    """Something moved: more updated/ready/available pods, or fewer old ones."""
    old_old = (old.replicas or 0) - (old.updated_replicas or 0)
    new_old = (new.replicas or 0) - (new.updated_replicas or 0)
    return (
        (new.updated_replicas or 0) > (old.updated_replicas or 0)
        or new_old < old_old
        or (new.ready_replicas or 0) > (old.ready_replicas or 0)
        or (new.available_replicas or 0) > (old.available_replicas or 0)
    )


def progress_deadline(d: Deployment) -> int | None:
    deadline = d.spec.progress_deadline_seconds
    return DEFAULT_PROGRESS_DEADLINE_SECONDS if deadline is None else deadline


def timed_out(d: Deployment, status: DeploymentStatus, now: datetime) -> bool:
    deadline = progress_deadline(d)
    cond = get_condition(status, PROGRESSING)
    if deadline is None or cond is None or cond.reason in (NEW_RS_AVAILABLE, DEADLINE_EXCEEDED):
        return False
    since = parse_time_or_none(cond.last_update_time)
    return since is not None and now - since > timedelta(seconds=deadline)


def rollout_status(
    d: Deployment, all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet | None, now: datetime,
) -> DeploymentStatus:
    """Full status after a rollout step, including the Progressing condition."""
    status = calculate_status(d, all_rss, new_rs, now)
    if d.spec.paused:
        set_condition(status, PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now)
        return status
    current = get_condition(d.status, PROGRESSING)
    if current is not None and current.reason == PAUSED:
        set_condition(status, PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now)
    name = new_rs.metadata.name if new_rs is not None else ""
    # Like Kubernetes, a completed rollout stays complete while every replica is of the new template,
    # except when nothing at all is available: `describe` must not say the new ReplicaSet is
    # available while no pod of it is (a first-hour trap: every pod crashing behind "Progressing True").
    already_complete = (
        current is not None and current.reason == NEW_RS_AVAILABLE
        and (status.replicas or 0) == (status.updated_replicas or 0)
        and ((status.available_replicas or 0) > 0 or desired_replicas(d) == 0)
    )
    if already_complete:
        return status
    if deployment_complete(d, status):
        set_condition(status, PROGRESSING, "True", NEW_RS_AVAILABLE,
                      f'ReplicaSet "{name}" has successfully progressed.', now)
    elif current is None or current.reason in (NEW_RS_AVAILABLE, PAUSED, RESUMED) or deployment_progressing(d.status, status):
        set_condition(status, PROGRESSING, "True", RS_UPDATED, f'ReplicaSet "{name}" is progressing.', now, touch=True)
    elif timed_out(d, status, now):
        set_condition(status, PROGRESSING, "False", DEADLINE_EXCEEDED,
                      f'ReplicaSet "{name}" has timed out progressing.', now)
    return status


def status_changed(old: DeploymentStatus, new: DeploymentStatus) -> bool:
    return old.to_dict() != new.to_dict()

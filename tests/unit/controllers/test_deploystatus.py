"""Deployment status: counts from ReplicaSets, conditions that only move on real change."""

from __future__ import annotations

from datetime import timedelta

from controllers.deployment.status import (
    calculate_status,
    deployment_complete,
    rollout_status,
)
from kubelite.api.podutil import get_condition
from tests.unit.controllers.builders import T0, deployment, replica_set


def test_counts_come_from_replica_sets() -> None:
    d = deployment(3)
    old = replica_set("web-old", 1, available=1)
    new = replica_set("web-new", 3, available=2, created=5)
    status = calculate_status(d, [old, new], new, T0)
    assert (status.replicas, status.updated_replicas, status.available_replicas) == (4, 3, 3)
    assert status.unavailable_replicas == 1 and status.ready_replicas == 3
    assert status.observed_generation == 1
    cond = get_condition(status, "Available")
    assert cond is not None and cond.status == "True" and cond.reason == "MinimumReplicasAvailable"


def test_not_enough_available_is_reported() -> None:
    d = deployment(4, surge=1, unavailable=1)
    rs = replica_set("web-a", 4, available=2)
    cond = get_condition(calculate_status(d, [rs], rs, T0), "Available")
    assert cond is not None and cond.status == "False" and cond.reason == "MinimumReplicasUnavailable"


def test_progressing_then_complete_without_timestamp_churn() -> None:
    d = deployment(2)
    new = replica_set("web-new", 2, available=1)
    status = rollout_status(d, [new], new, T0)
    prog = get_condition(status, "Progressing")
    assert prog is not None and prog.reason == "ReplicaSetUpdated" and prog.status == "True"
    assert not deployment_complete(d, status)

    d.status = status
    new = replica_set("web-new", 2, available=2)
    done = rollout_status(d, [new], new, T0 + timedelta(seconds=5))
    prog = get_condition(done, "Progressing")
    assert prog is not None and prog.reason == "NewReplicaSetAvailable"
    assert prog.last_transition_time == status.conditions[-1].last_transition_time  # status stayed True
    assert deployment_complete(d, done)

    d.status = done
    again = rollout_status(d, [new], new, T0 + timedelta(seconds=99))
    assert again.to_dict() == done.to_dict(), "an unchanged world must produce an identical status"


def test_complete_rollout_whose_pods_all_fail_is_no_longer_reported_available() -> None:
    d = deployment(2)
    new = replica_set("web-new", 2, available=2)
    d.status = rollout_status(d, [new], new, T0)
    assert get_condition(d.status, "Progressing").reason == "NewReplicaSetAvailable"  # type: ignore[union-attr]
    broken = replica_set("web-new", 2, available=0)
    status = rollout_status(d, [broken], broken, T0 + timedelta(seconds=5))
    prog = get_condition(status, "Progressing")
    assert prog is not None and prog.reason != "NewReplicaSetAvailable"
    one_left = replica_set("web-new", 2, available=1)
    d.status = rollout_status(d, [new], new, T0)
    kept = get_condition(rollout_status(d, [one_left], one_left, T0 + timedelta(seconds=5)), "Progressing")
    assert kept is not None and kept.reason == "NewReplicaSetAvailable"  # as in Kubernetes while some are up


def test_stalled_rollout_times_out() -> None:
    d = deployment(2)
    d.spec.progress_deadline_seconds = 60
    new = replica_set("web-new", 2, available=0)
    d.status = rollout_status(d, [new], new, T0)
    stalled = rollout_status(d, [new], new, T0 + timedelta(seconds=61))
    prog = get_condition(stalled, "Progressing")
    assert prog is not None and prog.status == "False" and prog.reason == "ProgressDeadlineExceeded"


def test_paused_deployment_says_so() -> None:
    d = deployment(2)
    d.spec.paused = True
    rs = replica_set("web-a", 2)
    prog = get_condition(rollout_status(d, [rs], rs, T0), "Progressing")
    assert prog is not None and prog.status == "Unknown" and prog.reason == "DeploymentPaused"

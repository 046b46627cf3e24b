"""Strategies of the workload kinds: their status belongs to their controller.

Why each is spelled out: the typed status accessors let the generic status
rules in `StatusStrategy` work on real model types instead of `getattr`.
"""

from __future__ import annotations

from apiserver.strategy.base import StatusStrategy
from kubelite.api import (
    CronJob,
    CronJobStatus,
    DaemonSet,
    DaemonSetStatus,
    Deployment,
    DeploymentStatus,
    Job,
    JobStatus,
    ReplicaSet,
    ReplicaSetStatus,
    StatefulSet,
    StatefulSetStatus,
)


class DeploymentStrategy(StatusStrategy[Deployment, DeploymentStatus]):
    def status(self, obj: Deployment) -> DeploymentStatus:
        return obj.status

    def set_status(self, obj: Deployment, status: DeploymentStatus) -> None:
        obj.status = status

    def initial_status(self) -> DeploymentStatus:
        return DeploymentStatus()


class ReplicaSetStrategy(StatusStrategy[ReplicaSet, ReplicaSetStatus]):
    def status(self, obj: ReplicaSet) -> ReplicaSetStatus:
        return obj.status

    def set_status(self, obj: ReplicaSet, status: ReplicaSetStatus) -> None:
        obj.status = status

    def initial_status(self) -> ReplicaSetStatus:
        return ReplicaSetStatus()


class DaemonSetStrategy(StatusStrategy[DaemonSet, DaemonSetStatus]):
    def status(self, obj: DaemonSet) -> DaemonSetStatus:
        return obj.status

    def set_status(self, obj: DaemonSet, status: DaemonSetStatus) -> None:
        obj.status = status

    def initial_status(self) -> DaemonSetStatus:
        return DaemonSetStatus()


class StatefulSetStrategy(StatusStrategy[StatefulSet, StatefulSetStatus]):
    def status(self, obj: StatefulSet) -> StatefulSetStatus:
        return obj.status

    def set_status(self, obj: StatefulSet, status: StatefulSetStatus) -> None:
        obj.status = status

    def initial_status(self) -> StatefulSetStatus:
        return StatefulSetStatus()


class JobStrategy(StatusStrategy[Job, JobStatus]):
    def status(self, obj: Job) -> JobStatus:
        return obj.status

    def set_status(self, obj: Job, status: JobStatus) -> None:
        obj.status = status

    def initial_status(self) -> JobStatus:
        return JobStatus()


class CronJobStrategy(StatusStrategy[CronJob, CronJobStatus]):
    def status(self, obj: CronJob) -> CronJobStatus:
        return obj.status

    def set_status(self, obj: CronJob, status: CronJobStatus) -> None:
        obj.status = status

    def initial_status(self) -> CronJobStatus:
        return CronJobStatus()

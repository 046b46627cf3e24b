"""CronJob controller reconciles against an in-memory API with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from controllers.base import ControllerContext
from controllers.cronjob.controller import CronJobController
from controllers.cronjob.plan import SCHEDULED_TIMESTAMP_ANNOTATION
from controllers.informers import InformerFactory
from kubelite.api import Job, JobCondition
from kubelite.api.batch import CronJob
from tests.unit.controllers.memapi import FakeClock, MemoryApi, RecordingRecorder

T0 = datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)  # created half a minute past 10:00
KEY = "default/tick"


class Env:
    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.api = MemoryApi(self.clock)
        self.factory = InformerFactory(self.api.client)
        self.recorder = RecordingRecorder(self.api.client)
        self.ctrl = CronJobController(
            ControllerContext(self.api.client, self.factory, self.recorder, clock=self.clock))
        self.api.attach(self.factory)

    def jobs(self) -> list[str]:
        return [j.metadata.name or "" for j in self.api.stored(Job)]

    def cron(self) -> CronJob:
        cj = self.api.get(CronJob, "tick")
        assert cj is not None
        return cj

    def finish(self, name: str, kind: str = "Complete") -> None:
        def fn(job: Job) -> None:
            job.status.conditions = [JobCondition(type=kind, status="True")]
            job.status.completion_time = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ") if kind == "Complete" else None
        self.api.mutate(Job, name, fn)

    async def at(self, minute: int, second: int = 5) -> None:
        self.clock.now = T0.replace(minute=minute, second=second)
        await self.ctrl.reconcile(KEY)


@pytest.fixture
def env() -> Iterator[Env]:
    yield Env()


def cron(schedule: str = "* * * * *", **spec: Any) -> CronJob:
    body: dict[str, Any] = {"schedule": schedule, "jobTemplate": {
        "metadata": {"labels": {"team": "a"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}
    body.update(spec)
    return CronJob.from_dict({"metadata": {"name": "tick", "namespace": "default",
                                           "creationTimestamp": "2026-01-01T10:00:30Z"}, "spec": body})


def minute_name(minute: int) -> str:
    return f"tick-{int(T0.replace(minute=minute, second=0).timestamp()) // 60}"


async def test_creates_one_job_per_scheduled_minute(env: Env) -> None:
    env.api.put(cron())
    await env.at(0, 50)
    assert env.jobs() == [], "nothing is due before the first scheduled minute after creation"
    assert env.ctrl.queue._waiting  # requeued for 10:01
    await env.at(1)
    assert env.jobs() == [minute_name(1)]
    job = env.api.get(Job, minute_name(1))
    assert job is not None
    assert job.metadata.labels["team"] == "a"
    assert job.metadata.annotations[SCHEDULED_TIMESTAMP_ANNOTATION] == "2026-01-01T10:01:00Z"
    (ref,) = job.metadata.owner_references
    assert (ref.kind, ref.name, ref.controller) == ("CronJob", "tick", True)
    st = env.cron().status
    assert st.last_schedule_time == "2026-01-01T10:01:00Z" and [r.name for r in st.active] == [minute_name(1)]
    await env.at(1, 40)
    assert len(env.jobs()) == 1, "a run is never created twice"
    await env.at(2)
    assert len(env.jobs()) == 2, "Allow: runs overlap"


async def test_missed_runs_start_only_the_latest(env: Env) -> None:
    env.api.put(cron())
    await env.at(7)
    assert env.jobs() == [minute_name(7)]


async def test_starting_deadline_skips_stale_runs(env: Env) -> None:
    env.api.put(cron("0 * * * *", startingDeadlineSeconds=30))
    env.clock.now = datetime(2026, 1, 1, 11, 0, 45, tzinfo=UTC)
    await env.ctrl.reconcile(KEY)
    assert env.jobs() == [], "11:00 is 45 s old, more than the 30 s deadline"
    env.clock.now = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
    await env.ctrl.reconcile(KEY)
    assert env.jobs() == ["tick-" + str(int(datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()) // 60)]


async def test_forbid_waits_for_the_active_job(env: Env) -> None:
    env.api.put(cron(concurrencyPolicy="Forbid"))
    await env.at(1)
    await env.at(2)
    assert env.jobs() == [minute_name(1)] and "JobAlreadyActive" in env.recorder.reasons()
    env.finish(minute_name(1))
    await env.at(2, 30)
    assert env.jobs() == [minute_name(1), minute_name(2)], "the still-due 10:02 run starts once 10:01 ended"


async def test_replace_deletes_the_active_job(env: Env) -> None:
    env.api.put(cron(concurrencyPolicy="Replace"))
    await env.at(1)
    await env.at(2)
    assert env.jobs() == [minute_name(2)]
    assert ("Delete", "jobs", minute_name(1)) in env.api.calls


async def test_suspend_stops_scheduling(env: Env) -> None:
    env.api.put(cron(suspend=True))
    await env.at(5)
    assert env.jobs() == []


async def test_history_limits(env: Env) -> None:
    env.api.put(cron(successfulJobsHistoryLimit=2, failedJobsHistoryLimit=1))
    for minute in range(1, 5):
        await env.at(minute)
        env.finish(minute_name(minute), "Complete" if minute != 2 else "Failed")
    await env.at(5)
    await env.at(5, 30)
    assert env.jobs() == [minute_name(2), minute_name(3), minute_name(4), minute_name(5)]
    env.finish(minute_name(5), "Failed")
    await env.at(5, 40)
    assert env.jobs() == [minute_name(3), minute_name(4), minute_name(5)], "oldest failed one removed"
    assert env.cron().status.last_successful_time is not None


async def test_unparseable_schedule_is_reported(env: Env) -> None:
    env.api.put(cron("not a schedule"))
    await env.at(3)
    assert env.jobs() == [] and "UnparseableSchedule" in env.recorder.reasons()

"""Job controller reconciles against an in-memory API with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from controllers.base import ControllerContext
from controllers.informers import InformerFactory
from controllers.job.controller import JobController
from controllers.job.plan import backoff_delay
from kubelite.api import Job, Pod
from tests.unit.controllers.memapi import FakeClock, MemoryApi, RecordingRecorder, set_phase

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "default/pi"


class Env:
    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.api = MemoryApi(self.clock)
        self.factory = InformerFactory(self.api.client)
        self.recorder = RecordingRecorder(self.api.client)
        self.ctrl = JobController(ControllerContext(self.api.client, self.factory, self.recorder, clock=self.clock),
                                  backoff_base=10.0, backoff_max=60.0)
        self.api.attach(self.factory)

    def active(self) -> list[Pod]:
        return [p for p in self.api.stored(Pod) if p.status.phase in ("Pending", "Running")
                and p.metadata.deletion_timestamp is None]

    def finish(self, pod: Pod, phase: str) -> None:
        self.api.mutate(Pod, pod.metadata.name or "", lambda p: set_phase(p, phase))

    async def sync(self, times: int = 1) -> None:
        for _ in range(times):
            await self.ctrl.reconcile(KEY)

    def job(self) -> Job:
        job = self.api.get(Job, "pi")
        assert job is not None
        return job

    def conditions(self) -> dict[str, tuple[str, str | None]]:
        return {c.type: (c.status, c.reason) for c in self.job().status.conditions}


@pytest.fixture
def env() -> Iterator[Env]:
    yield Env()


def job(restart: str = "Never", **spec: Any) -> Job:
    body: dict[str, Any] = {"template": {"spec": {"restartPolicy": restart,
                                                  "containers": [{"name": "c", "image": "busybox"}]}}}
    body.update(spec)
    return Job.from_dict({"metadata": {"name": "pi", "namespace": "default"}, "spec": body})


async def test_completions_with_parallelism(env: Env) -> None:
    env.api.put(job(completions=3, parallelism=2))
    await env.sync()
    pods = env.active()
    assert len(pods) == 2
    pod = pods[0]
    assert pod.metadata.labels["job-name"] == "pi" and pod.metadata.labels["batch.kubernetes.io/job-name"] == "pi"
    assert pod.metadata.labels["controller-uid"] == env.job().metadata.uid
    (ref,) = pod.metadata.owner_references
    assert (ref.api_version, ref.kind, ref.controller) == ("batch/v1", "Job", True)
    assert env.job().status.start_time == "2026-01-01T00:00:00Z"
    env.finish(pods[0], "Succeeded")
    await env.sync()
    assert len(env.active()) == 2, "one more to reach 3 completions"
    st = env.job().status
    assert (st.active, st.succeeded) == (2, 1)
    for pod in env.active():
        env.finish(pod, "Succeeded")
    env.clock.advance(30)
    await env.sync()
    st = env.job().status
    assert env.conditions()["Complete"] == ("True", "CompletionsReached")
    assert (st.succeeded, st.active, st.completion_time) == (3, 0, "2026-01-01T00:00:30Z")
    await env.sync()
    assert len(env.api.stored(Pod)) == 3, "nothing more after completion"


async def test_extra_active_pods_are_removed_when_complete(env: Env) -> None:
    env.api.put(job(completions=1, parallelism=1))
    await env.sync()
    env.api.put(job(completions=1, parallelism=3))  # more parallelism than completions left: still 1
    await env.sync()
    assert len(env.active()) == 1


async def test_work_queue_job_without_completions(env: Env) -> None:
    env.api.put(job(parallelism=2))
    await env.sync()
    first, second = env.active()
    env.finish(first, "Succeeded")
    await env.sync()
    assert len(env.active()) == 1 and "Complete" not in env.conditions(), "waits for the other worker"
    env.finish(second, "Succeeded")
    await env.sync()
    assert env.conditions()["Complete"][0] == "True"


async def test_failures_are_retried_with_backoff_then_fail(env: Env) -> None:
    env.api.put(job(backoffLimit=2))
    await env.sync()
    for attempt in range(1, 4):
        (pod,) = env.active()
        env.finish(pod, "Failed")
        await env.sync()
        if attempt == 3:
            break
        assert env.active() == [], "retried only after the back-off"
        env.clock.advance(backoff_delay(attempt, 10.0, 60.0) + 1)
        await env.sync()
        assert len(env.active()) == 1
    assert env.conditions()["Failed"] == ("True", "BackoffLimitExceeded")
    assert env.job().status.failed == 3 and "BackoffLimitExceeded" in env.recorder.reasons()
    await env.sync()
    assert len(env.api.stored(Pod)) == 3


async def test_on_failure_restarts_count_against_backoff_limit(env: Env) -> None:
    env.api.put(job("OnFailure", backoffLimit=2))
    await env.sync()
    (pod,) = env.active()

    def restarted(p: Pod) -> None:
        set_phase(p, "Running")
        p.status.container_statuses = [Pod.from_dict({"status": {"containerStatuses": [
            {"name": "c", "restartCount": 2}]}}).status.container_statuses[0]]

    env.api.mutate(Pod, pod.metadata.name or "", restarted)
    await env.sync()
    assert env.conditions()["Failed"] == ("True", "BackoffLimitExceeded")
    assert env.active() == [], "the running pod is deleted"


async def test_active_deadline(env: Env) -> None:
    env.api.put(job(activeDeadlineSeconds=60))
    await env.sync()
    assert len(env.active()) == 1
    assert env.ctrl.queue._waiting
    env.clock.advance(61)
    await env.sync()
    assert env.conditions()["Failed"] == ("True", "DeadlineExceeded")
    assert env.active() == []


async def test_suspend_and_resume(env: Env) -> None:
    env.api.put(job(suspend=True))
    await env.sync()
    assert env.active() == [] and env.conditions()["Suspended"] == ("True", "JobSuspended")
    env.api.put(job(suspend=False))
    await env.sync()
    assert len(env.active()) == 1 and env.conditions()["Suspended"] == ("False", "JobResumed")


async def test_lagging_cache_never_doubles_pods(env: Env) -> None:
    env.api.put(job(completions=5, parallelism=3))
    env.api.hold()
    await env.sync()
    try:
        await env.sync()
    except Exception:  # stale status write conflicts: the queue would retry
        pass
    env.api.flush()
    await env.sync()
    assert len(env.active()) == 3

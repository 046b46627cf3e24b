"""Slow start and burst caps: a huge valid count or an always-failing template costs little per sync."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.daemonset.plan import plan_nodes
from controllers.job.plan import decide
from controllers.slowstart import BURST_REPLICAS, DAEMON_BURST_REPLICAS, capped, slow_start_batches
from kubelite.api import Job, Pod
from kubelite.api.errors import Forbidden
from kubelite.pb.kubelite import api_pb2
from tests.unit.controllers.builders import T0
from tests.unit.controllers.test_daemonset import daemon_set, node
from tests.unit.controllers.test_replicaset import KEY, Env, fresh


def test_batches_double_and_sum_to_the_count() -> None:
    assert slow_start_batches(7) == [1, 2, 4]
    assert slow_start_batches(500)[:4] == [1, 2, 4, 8] and sum(slow_start_batches(500)) == 500
    assert capped(2**31 - 1) == BURST_REPLICAS and capped(-3) == 0 and capped(7) == 7


def _fail_after(env: Env, allowed: int) -> list[str]:
    """Make pod creations fail (as a quota would) once `allowed` succeeded; returns the attempts."""
    attempts: list[str] = []
    create = env.api.Create

    async def limited(request: api_pb2.CreateRequest) -> api_pb2.Object:
        if request.resource == "pods":
            attempts.append("pod")
            if len(attempts) > allowed:
                raise Forbidden('pods "x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=3, '
                                'limited: pods=3')
        return await create(request)

    env.api.Create = limited  # type: ignore[method-assign]
    return attempts


@pytest.fixture
def env() -> Env:
    return Env()


async def test_replica_set_stops_at_the_first_failing_batch(env: Env) -> None:
    attempts = _fail_after(env, 3)
    env.api.put(fresh(100))
    with pytest.raises(Forbidden):
        await env.sync()
    assert len(env.live()) == 3
    assert len(attempts) == 1 + 2 + 4, "batches 1 and 2 succeed, the batch of 4 fails, nothing after it"
    assert env.recorder.reasons().count("FailedCreate") == 4
    assert env.ctrl.expectations.satisfied(KEY), "skipped creations are not waited for"


async def test_replica_set_creates_at_most_a_burst_per_sync(env: Env) -> None:
    env.api.put(fresh(2**31 - 1))
    await env.sync()
    assert len(env.api.stored(Pod)) == BURST_REPLICAS


def _job(**spec: Any) -> Job:
    body: dict[str, Any] = {"template": {"spec": {"restartPolicy": "Never",
                                                  "containers": [{"name": "c", "image": "busybox"}]}}}
    body.update(spec)
    return Job.from_dict({"metadata": {"name": "pi", "namespace": "default", "uid": "u"}, "spec": body})


def test_job_plan_caps_creations_per_sync() -> None:
    decision = decide(_job(parallelism=2**31 - 1, completions=2**31 - 1), [], T0)
    assert decision.create == BURST_REPLICAS


def test_daemon_set_plan_caps_creations_per_sync() -> None:
    nodes = {f"n{i:04d}": node(f"n{i:04d}") for i in range(DAEMON_BURST_REPLICAS + 50)}
    plan = plan_nodes(daemon_set(), nodes, {})
    assert len(plan.create) == DAEMON_BURST_REPLICAS

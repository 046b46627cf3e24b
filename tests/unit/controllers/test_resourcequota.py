"""resourcequota controller: recounts status.used from its namespace against an in-memory API."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.base import ControllerContext
from controllers.informers import InformerFactory
from controllers.resourcequota.controller import ResourceQuotaController
from controllers.resourcequota.plan import compute_status, sources
from kubelite.api import ConfigMap, Pod
from kubelite.api.errors import Conflict
from kubelite.api.namespacepolicy import ResourceQuota
from tests.unit.controllers.builders import T0
from tests.unit.controllers.memapi import FakeClock, MemoryApi, RecordingRecorder, set_phase

KEY = "default/q"


def quota(hard: dict[str, str]) -> ResourceQuota:
    return ResourceQuota.from_dict({"metadata": {"name": "q", "namespace": "default"}, "spec": {"hard": hard}})


def pod(name: str, cpu: str = "100m") -> Pod:
    return Pod.from_dict({"metadata": {"name": name, "namespace": "default"}, "spec": {
        "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]}})


class Env:
    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.api = MemoryApi(self.clock)
        self.factory = InformerFactory(self.api.client)
        self.ctrl = ResourceQuotaController(ControllerContext(
            self.api.client, self.factory, RecordingRecorder(self.api.client), clock=self.clock))
        self.api.attach(self.factory)

    def used(self) -> dict[str, Any]:
        q = self.api.get(ResourceQuota, "q")
        assert q is not None
        return dict(q.status.used)


@pytest.fixture
def env() -> Env:
    return Env()


def test_plan_counts_what_the_quota_tracks() -> None:
    q = quota({"pods": "5", "requests.cpu": "2", "count/configmaps": "4"})
    assert sources(q) == ["configmaps", "pods"]
    done = pod("done")
    set_phase(done, "Succeeded")
    status = compute_status(q, {"pods": [pod("a", "250m"), pod("b", "1"), done],
                                "configmaps": [ConfigMap.from_dict({"metadata": {"name": "c"}})]})
    assert status.hard == q.spec.hard
    assert status.used == {"count/configmaps": "1", "pods": "2", "requests.cpu": "1250m"}


async def test_recounts_and_gives_back_what_finished_pods_held(env: Env) -> None:
    env.api.put(quota({"pods": "5", "cpu": "10"}))
    for name in ("a", "b", "c"):
        env.api.put(pod(name))
    await env.ctrl.reconcile(KEY)
    assert env.used() == {"cpu": "300m", "pods": "3"}
    env.api.mutate(Pod, "b", lambda p: set_phase(p, "Failed"))
    await env.ctrl.reconcile(KEY)
    assert env.used() == {"cpu": "200m", "pods": "2"}


async def test_a_charge_made_meanwhile_is_never_overwritten(env: Env) -> None:
    env.api.put(quota({"pods": "5"}))
    env.api.put(pod("a"))
    list_pods = env.api.List

    async def charge_during_list(request: Any) -> Any:
        # Admission charges a create between the controller's read of the quota and its write.
        env.api.mutate(ResourceQuota, "q", lambda q: setattr(q.status, "used", {"pods": "2"}))
        return await list_pods(request)

    env.api.List = charge_during_list  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        await env.ctrl.reconcile(KEY)
    assert env.used() == {"pods": "2"}, "the stale recount was refused; the queue retries it"

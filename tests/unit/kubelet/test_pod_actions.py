"""The pod worker's decisions, as tables: pod facts + observed containers + now -> actions.

Why tables: every row is one rule of Kubernetes' pod lifecycle (init
containers in order, restartPolicy, crash-loop back-off, liveness kills,
deletion), stated with plain values and a fake clock, so a changed rule shows
up as a changed row. The last tests run the worker's sync against a fake
runtime and a fake clock to show the executor carries the plan out.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pytest

from kubelet.backoff import BackOff
from kubelet.pod_actions import (
    Action,
    BackOffRestart,
    CreateSandbox,
    Exited,
    KeepFinished,
    KillContainer,
    KillPod,
    ObservedContainer,
    PodFacts,
    StartContainer,
    SyncContainers,
    plan,
    plan_pod,
)
from kubelet.pod_context import WorkerContext
from kubelet.pod_sync import PodWorker
from kubelet.runtime import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    PodSandboxConfig,
    SandboxStatus,
)
from kubelet.status import ContainerView, PodView, Terminated, pod_phase
from kubelite.api import Pod
from kubelite.client import ApiClient
from tests.polling import eventually

NOW = 1000.0

C = ObservedContainer
fresh = C("app")
running = C("app", running=True)
ok = Exited(0, NOW - 60)
failed = Exited(1, NOW - 60)


def init(name: str, **kw: Any) -> ObservedContainer:
    return C(name, init=True, **kw)


def facts(policy: str = "Always", **kw: Any) -> PodFacts:
    return PodFacts(restart_policy=policy, **kw)


CASES: list[tuple[str, PodFacts, list[ObservedContainer], list[Action]]] = [
    ("fresh pod without sandbox creates it first", facts(sandbox_ready=False), [fresh], [CreateSandbox()]),
    ("fresh pod starts every container", facts(), [C("a"), C("b")], [StartContainer("a"), StartContainer("b")]),
    ("first init container starts alone",
     facts(), [init("i1"), init("i2"), C("app")], [StartContainer("i1")]),
    ("a running init container blocks the rest",
     facts(), [init("i1", running=True), init("i2"), C("app")], []),
    ("init containers run in order",
     facts(), [init("i1", exited=ok), init("i2"), C("app")], [StartContainer("i2")]),
    ("after every init container succeeded the app starts",
     facts(), [init("i1", exited=ok), init("i2", exited=ok), C("app")], [StartContainer("app")]),
    ("failed init container with Never fails the pod",
     facts("Never"), [init("i1", exited=failed), C("app")], []),
    ("failed init container with Always is restarted",
     facts("Always"), [init("i1", exited=failed), C("app")], [StartContainer("i1", retire=True, restart=True)]),
    ("failed init container with OnFailure is restarted",
     facts("OnFailure"), [init("i1", exited=failed), C("app")], [StartContainer("i1", retire=True, restart=True)]),
    ("exited with Always restarts (no back-off yet)",
     facts("Always"), [C("app", exited=ok)], [StartContainer("app", retire=True, restart=True)]),
    ("exit 0 with OnFailure stays down", facts("OnFailure"), [C("app", exited=ok)], []),
    ("exit 1 with OnFailure restarts",
     facts("OnFailure"), [C("app", exited=failed)], [StartContainer("app", retire=True, restart=True)]),
    ("exited with Never stays down", facts("Never"), [C("app", exited=failed)], []),
    ("crash back-off not elapsed waits",
     facts(), [C("app", exited=Exited(1, NOW - 4), backoff=10.0)],
     [BackOffRestart("app", until=NOW + 6, delay=10.0, retire=True)]),
    ("crash back-off elapsed restarts",
     facts(), [C("app", exited=Exited(1, NOW - 10), backoff=10.0)],
     [StartContainer("app", retire=True, restart=True)]),
    ("back-off counts from the last instance once retired",
     facts(), [C("app", last_exit=Exited(1, NOW - 1), backoff=20.0)], [BackOffRestart("app", NOW + 19, 20.0)]),
    ("unknown finish time backs off from now",
     facts(), [C("app", exited=Exited(1, None), backoff=10.0)], [BackOffRestart("app", NOW + 10, 10.0, retire=True)]),
    ("liveness failure kills the running instance",
     facts(), [C("app", running=True, kill="Liveness"), C("side", running=True)], [KillContainer("app", "Liveness")]),
    ("a kill request for a container no longer running is dropped",
     facts(), [C("app", exited=failed, kill="Liveness")], [StartContainer("app", retire=True, restart=True)]),
    ("deletion kills the pod whatever runs",
     facts(deleting=True), [running, C("b", exited=failed)], [KillPod()]),
    ("deletion wins over a missing sandbox", facts(deleting=True, sandbox_ready=False), [fresh], [KillPod()]),
    ("finished pod with nothing running stays finished",
     facts("Never", phase_terminal=True), [C("app", exited=ok)], [KeepFinished()]),
    ("finished phase but still running goes on syncing",
     facts("Never", phase_terminal=True), [running], []),
    ("all running: nothing to do", facts(), [C("a", running=True), C("b", running=True)], []),
]


@pytest.mark.parametrize(("pod", "containers", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan(pod: PodFacts, containers: list[ObservedContainer], expected: list[Action]) -> None:
    assert plan(pod, containers, NOW) == expected


@pytest.mark.parametrize(("policy", "codes", "phase"), [
    ("Never", [0, 0], "Succeeded"),
    ("Never", [0, 1], "Failed"),
    ("OnFailure", [0, 0], "Succeeded"),
])
def test_all_terminated_nothing_to_start_and_the_phase_is_final(policy: str, codes: list[int], phase: str) -> None:
    observed = [C(f"c{i}", exited=Exited(code, NOW)) for i, code in enumerate(codes)]
    assert plan(facts(policy), observed, NOW) == []
    view = PodView(restart_policy=policy, init=[], containers=[
        ContainerView(name=f"c{i}", image="i", terminated=Terminated(code, "", NOW - 1, NOW))
        for i, code in enumerate(codes)
    ])
    assert pod_phase(view) == phase
    assert plan_pod(facts(policy, phase_terminal=True), observed) == KeepFinished()


def test_plan_pod_goes_on_to_the_containers() -> None:
    assert plan_pod(facts(), [running]) == SyncContainers()


# -- the worker carries the plan out (fake runtime, fake clock) -----------------------


@dataclass
class FakeClock:
    t: float = NOW

    def __call__(self) -> float:
        return self.t


class FakeRuntime:
    """A runtime in memory: containers are whatever the test says they are."""

    name = "fake"
    version = "0"
    isolated = True

    def __init__(self) -> None:
        self.containers: dict[str, ContainerStatus] = {}
        self.sandboxes: list[str] = []
        self.removed: list[str] = []
        self.stopped: list[str] = []
        self.clock = FakeClock()

    def add_exit_listener(self, listener: Any) -> None:
        pass

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        self.sandboxes.append(config.uid)
        return f"sb-{len(self.sandboxes)}"

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        return SandboxStatus(sandbox_id, "10.0.0.5", "", True)

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        cid = f"{config.name}-{config.attempt}"
        self.containers[cid] = ContainerStatus(cid, sandbox_id, config.name, config.image, config.attempt,
                                               ContainerState.CREATED)
        return cid

    async def start_container(self, container_id: str) -> None:
        st = self.containers[container_id]
        self.containers[container_id] = replace(st, state=ContainerState.RUNNING, started_at=self.clock.t,
                                                uri=f"fake://{container_id}")

    def exit(self, container_id: str, code: int) -> None:
        st = self.containers[container_id]
        self.containers[container_id] = replace(st, state=ContainerState.EXITED, exit_code=code,
                                                finished_at=self.clock.t, reason="Error")

    async def stop_container(self, container_id: str, timeout: float) -> None:
        self.stopped.append(container_id)
        self.exit(container_id, 137)

    async def remove_container(self, container_id: str) -> None:
        self.removed.append(container_id)
        del self.containers[container_id]

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self.containers[container_id]


class FakeClient:
    """update_status only: the written statuses, each with a new resourceVersion."""

    def __init__(self) -> None:
        self.statuses: list[Pod] = []

    async def update_status(self, pod: Pod) -> Pod:
        written = copy.deepcopy(pod)
        written.metadata.resource_version = str(len(self.statuses) + 2)
        self.statuses.append(written)
        return written


def make_worker(tmp_path: Path, policy: str = "Always") -> tuple[PodWorker, FakeRuntime, FakeClient]:
    runtime, client = FakeRuntime(), FakeClient()
    ctx = WorkerContext(client=cast(ApiClient, client), runtime=cast(Any, runtime), node_name="n1",
                        node_ip="10.0.0.1", data_dir=tmp_path, backoff=BackOff(10.0, 300.0), clock=runtime.clock)
    pod = Pod.from_dict({
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "1"},
        "spec": {"nodeName": "n1", "restartPolicy": policy,
                 "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "1000"]}]},
    })
    return PodWorker(ctx, pod), runtime, client


def app_state(client: FakeClient) -> Any:
    return client.statuses[-1].status.container_statuses[0]


async def test_worker_starts_restarts_then_backs_off_on_the_fake_clock(tmp_path: Path) -> None:
    worker, runtime, client = make_worker(tmp_path)
    await worker.sync()
    assert runtime.sandboxes == ["u1"]
    assert runtime.containers["app-0"].state is ContainerState.RUNNING
    assert app_state(client).state.running is not None

    runtime.exit("app-0", 1)
    await worker.sync()  # the first restart is immediate
    assert runtime.removed == ["app-0"]
    assert runtime.containers["app-1"].state is ContainerState.RUNNING

    runtime.clock.t += 1
    runtime.exit("app-1", 1)
    await worker.sync()  # crashed again 1 s after the restart: 10 s back-off
    assert "app-2" not in runtime.containers
    assert app_state(client).state.waiting.reason == "CrashLoopBackOff"
    assert worker.executor.next_wake == runtime.clock.t + 10

    runtime.clock.t += 9.5
    await worker.sync()
    assert "app-2" not in runtime.containers
    runtime.clock.t += 0.5
    await worker.sync()
    assert runtime.containers["app-2"].state is ContainerState.RUNNING
    assert app_state(client).restart_count == 2


async def test_worker_never_policy_leaves_a_failed_container_down(tmp_path: Path) -> None:
    worker, runtime, client = make_worker(tmp_path, "Never")
    await worker.sync()
    runtime.exit("app-0", 3)
    await worker.sync()
    assert list(runtime.containers) == ["app-0"] and runtime.removed == []
    assert client.statuses[-1].status.phase == "Failed"
    assert app_state(client).state.terminated.exit_code == 3


async def test_worker_kills_on_liveness_request_then_restarts(tmp_path: Path) -> None:
    worker, runtime, _client = make_worker(tmp_path)
    await worker.sync()
    track = worker.tracks[0]
    worker.executor.request_kill(track, "app-0", "Liveness", "probe says no")
    await worker.sync()

    async def killed() -> bool:
        return runtime.stopped == ["app-0"]

    await eventually(killed, "the liveness kill", timeout=5.0)
    await worker.sync()  # the killed instance exited: Always restarts it
    assert runtime.containers["app-1"].state is ContainerState.RUNNING
    assert track.kill_request is None


async def test_worker_writes_a_running_pods_status_once_and_restores_one_changed_elsewhere(tmp_path: Path) -> None:
    worker, runtime, client = make_worker(tmp_path)
    await worker.sync()
    assert [s.status.phase for s in client.statuses] == ["Running"]
    for _ in range(3):  # resyncs of a pod whose container just runs write nothing
        runtime.clock.t += 1
        await worker.sync()
    assert len(client.statuses) == 1

    # Somebody else rewrote the status (a newer version): the kubelet puts its own back.
    tampered = copy.deepcopy(client.statuses[-1])
    tampered.metadata.resource_version = "50"
    tampered.status.phase = "Pending"
    tampered.status.container_statuses = []
    worker.update(tampered)
    await worker.sync()
    assert len(client.statuses) == 2 and client.statuses[-1].status.phase == "Running"
    assert app_state(client).state.running is not None

    # And a change of the container itself is written, however settled the status was.
    runtime.exit("app-0", 1)
    await worker.sync()
    assert app_state(client).restart_count == 1 and len(client.statuses) == 3


async def test_the_same_pod_version_again_does_not_wake_the_worker(tmp_path: Path) -> None:
    worker, _runtime, client = make_worker(tmp_path)
    await worker.sync()
    written = client.statuses[-1]
    echo = copy.deepcopy(written)  # the watch event of the worker's own write
    wakes: list[None] = []
    worker.wake = lambda: wakes.append(None)  # type: ignore[method-assign]
    worker.update(echo)
    assert wakes == []
    newer = copy.deepcopy(written)
    newer.metadata.resource_version = str(int(written.metadata.resource_version or 0) + 1)
    worker.update(newer)
    assert wakes == [None] and worker.pod is newer

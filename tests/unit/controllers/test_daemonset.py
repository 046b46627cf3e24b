"""DaemonSet controller reconciles against an in-memory API with a fixed clock."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from controllers.base import ControllerContext
from controllers.daemonset.controller import DaemonSetController
from controllers.daemonset.plan import REVISION_LABEL, revision_hash
from controllers.informers import InformerFactory
from kubelite.api import DaemonSet, Node, Pod, Taint
from kubelite.api.errors import Conflict
from tests.unit.controllers.memapi import FakeClock, MemoryApi, RecordingRecorder, set_phase

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "default/agent"


class Env:
    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.api = MemoryApi(self.clock)
        self.factory = InformerFactory(self.api.client)
        self.recorder = RecordingRecorder(self.api.client)
        self.ctrl = DaemonSetController(
            ControllerContext(self.api.client, self.factory, self.recorder, clock=self.clock))
        self.api.attach(self.factory)

    def pods(self) -> list[Pod]:
        return [p for p in self.api.stored(Pod) if p.metadata.deletion_timestamp is None]

    def by_node(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for p in self.pods():
            out.setdefault(p.spec.node_name or "", []).append(p.metadata.name or "")
        return out

    def ready_all(self) -> None:
        for p in self.pods():
            self.api.mutate(Pod, p.metadata.name or "", lambda q: set_phase(q, "Running", True, T0))

    async def sync(self, times: int = 1) -> None:
        for _ in range(times):
            await self.ctrl.reconcile(KEY)

    def ds(self) -> DaemonSet:
        ds = self.api.get(DaemonSet, "agent")
        assert ds is not None
        return ds


@pytest.fixture
def env() -> Iterator[Env]:
    yield Env()


def node(name: str, labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None) -> Node:
    return Node.from_dict({"metadata": {"name": name, "labels": labels or {}},
                           "spec": {"taints": taints or []}})


def daemon_set(image: str = "agent:1", strategy: dict[str, Any] | None = None, **spec: Any) -> DaemonSet:
    body: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}},
                     "spec": {"containers": [{"name": "a", "image": image}], **spec}},
        "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
    }
    return DaemonSet.from_dict({"metadata": {"name": "agent", "namespace": "default"}, "spec": body})


async def test_one_bound_pod_per_eligible_node(env: Env) -> None:
    env.api.put(node("n1", {"disk": "ssd"}))
    env.api.put(node("n2", {"disk": "hdd"}))
    env.api.put(node("n3", {"disk": "ssd"}, [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]))
    env.api.put(node("n4", {"disk": "ssd"}, [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
                                            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]))
    env.api.put(daemon_set(nodeSelector={"disk": "ssd"}))
    await env.sync()
    assert env.by_node().keys() == {"n1", "n4"}  # n2: selector; n3: untolerated taint; n4: default tolerations
    pod = env.pods()[0]
    assert pod.metadata.labels[REVISION_LABEL] == revision_hash(env.ds())
    (ref,) = pod.metadata.owner_references
    assert (ref.kind, ref.name, ref.controller) == ("DaemonSet", "agent", True)
    tolerated = {(t.key, t.effect) for t in pod.spec.tolerations}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in tolerated
    await env.sync()
    assert len(env.pods()) == 2, "a second pass creates nothing more"
    env.ready_all()
    await env.sync()
    st = env.ds().status
    assert (st.desired_number_scheduled, st.current_number_scheduled, st.number_ready, st.number_available,
            st.updated_number_scheduled, st.number_misscheduled, st.number_unavailable) == (2, 2, 2, 2, 2, 0, 0)


async def test_tolerated_taint_and_node_affinity(env: Env) -> None:
    env.api.put(node("a", {"zone": "x"}, [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]))
    env.api.put(node("b", {"zone": "y"}))
    env.api.put(daemon_set(
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}],
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]}]}}},
    ))
    await env.sync()
    assert env.by_node().keys() == {"a"}


async def test_follows_nodes_joining_leaving_and_changing(env: Env) -> None:
    env.api.put(node("n1", {"role": "worker"}))
    env.api.put(daemon_set(nodeSelector={"role": "worker"}))
    await env.sync()
    assert env.by_node().keys() == {"n1"}
    assert len(env.ctrl.queue) >= 1
    env.api.put(node("n2", {"role": "worker"}))  # a node joins: every DaemonSet is enqueued
    assert KEY in env.ctrl.queue._queue
    await env.sync()
    assert env.by_node().keys() == {"n1", "n2"}
    env.api.finish_delete(Node, "n1")  # a node leaves
    await env.sync()
    assert env.by_node().keys() == {"n2"}
    env.api.put(node("n2", {"role": "edge"}))  # relabelled out of the selector
    await env.sync()
    assert env.pods() == []
    assert env.ds().status.desired_number_scheduled == 0


async def test_taints_added_later(env: Env) -> None:
    env.api.put(node("n1"))
    env.api.put(node("n2"))
    env.api.put(daemon_set())
    await env.sync()
    env.api.put(node("n1", taints=[{"key": "maint", "effect": "NoSchedule"}]))
    env.api.put(node("n2", taints=[{"key": "evict", "effect": "NoExecute"}]))
    await env.sync(2)  # status is written from what the pass saw; the deletion's event brings the next one
    assert env.by_node().keys() == {"n1"}, "NoSchedule lets a running daemon stay, NoExecute evicts it"
    assert env.ds().status.number_misscheduled == 1


async def test_lagging_cache_never_doubles_creations(env: Env) -> None:
    env.api.put(node("n1"))
    env.api.put(daemon_set())
    env.api.hold()
    for _ in range(3):
        with contextlib.suppress(Conflict):  # the stale cached status conflicts: the queue would retry
            await env.sync()
    env.api.flush()
    await env.sync()
    assert len(env.pods()) == 1


async def test_failed_pod_is_replaced_and_terminating_pod_waited_for(env: Env) -> None:
    env.api.graceful_pods = True
    env.api.put(node("n1"))
    env.api.put(daemon_set())
    await env.sync()
    (pod,) = env.pods()
    env.api.mutate(Pod, pod.metadata.name or "", lambda p: set_phase(p, "Running", True))
    env.api.mutate(Pod, pod.metadata.name or "", lambda p: set_phase(p, "Failed"))
    await env.sync()
    assert "FailedDaemonPod" in env.recorder.reasons()
    assert env.api.get(Pod, pod.metadata.name or "") is None, "a failed pod has nothing to stop: deleted at once"
    await env.sync()
    assert len(env.pods()) == 1 and env.pods()[0].metadata.name != pod.metadata.name


async def test_rolling_update_respects_max_unavailable(env: Env) -> None:
    for i in range(4):
        env.api.put(node(f"n{i}"))
    env.api.put(daemon_set("agent:1"))
    await env.sync()
    env.ready_all()
    await env.sync()
    old = {p.metadata.name for p in env.pods()}
    env.api.put(daemon_set("agent:2"))
    new_hash = revision_hash(env.ds())
    await env.sync()
    assert len(env.pods()) == 3, "exactly maxUnavailable=1 old pod is taken down"
    await env.sync()
    assert len(env.pods()) == 4
    fresh = [p for p in env.pods() if p.metadata.name not in old]
    assert len(fresh) == 1 and fresh[0].metadata.labels[REVISION_LABEL] == new_hash
    await env.sync()
    assert len(env.pods()) == 4, "the new pod is not available yet: no further deletion"
    for _ in range(6):
        env.ready_all()
        await env.sync()
    assert all(p.metadata.labels[REVISION_LABEL] == new_hash for p in env.pods()) and len(env.pods()) == 4
    env.ready_all()
    await env.sync()
    assert env.ds().status.updated_number_scheduled == 4 and env.ds().status.number_available == 4


async def test_on_delete_strategy_leaves_old_pods(env: Env) -> None:
    env.api.put(node("n1"))
    env.api.put(daemon_set("agent:1", {"type": "OnDelete"}))
    await env.sync()
    env.ready_all()
    env.api.put(daemon_set("agent:2", {"type": "OnDelete"}))
    await env.sync(2)
    (pod,) = env.pods()
    assert pod.spec.containers[0].image == "agent:1"
    env.api.finish_delete(Pod, pod.metadata.name or "")
    await env.sync()
    (pod,) = env.pods()
    assert pod.spec.containers[0].image == "agent:2"


def test_taint_model_roundtrip() -> None:
    assert Taint(key="k", effect="NoSchedule").to_dict() == {"key": "k", "effect": "NoSchedule"}

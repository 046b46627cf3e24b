"""Which pods the HPA counts and how ready they are for CPU, what it writes to the status (pure)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from controllers.hpa.plan import DEFAULT_DOWN, DEFAULT_UP, MetricTarget, Policy, Proposal, propose
from controllers.hpa.samples import Outcome, behavior_rules, cpu_unready, metric_status, new_status, samples
from kubelite.api import Pod
from kubelite.api.autoscaling import HorizontalPodAutoscaler
from tests.unit.controllers.builders import T0, ts

CPU50 = MetricTarget("cpu", utilization=50)


def _pod(name: str, *, phase: str = "Running", ready: str | None = "True", started: float | None = -600,
         ready_at: float = -590, deleting: bool = False, cpu: str = "100m") -> Pod:
    status: dict[str, Any] = {"phase": phase}
    if started is not None:
        status["startTime"] = ts(started)
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "lastTransitionTime": ts(ready_at)}]
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = ts(0)
    return Pod.from_dict({"metadata": meta, "status": status, "spec": {"containers": [
        {"name": "a", "image": "busybox", "resources": {"requests": {"cpu": cpu, "memory": "10Mi"}}},
        {"name": "b", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]}})


def _metrics(name: str, *cpu: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "containers": [{"name": f"c{i}", "usage": {"cpu": c, "memory": "5Mi"}}
                                                       for i, c in enumerate(cpu)]}


def test_cpu_readiness_follows_kubernetes() -> None:
    assert not cpu_unready(_pod("old"), T0)
    assert cpu_unready(_pod("no-start", started=None), T0)
    assert cpu_unready(_pod("no-condition", ready=None), T0)
    # Within 5 minutes of starting, not Ready means unready.
    assert cpu_unready(_pod("young", started=-60, ready="False", ready_at=-60), T0)
    assert not cpu_unready(_pod("young-ready", started=-60, ready_at=-50), T0)
    # Later, only a pod that never became ready after its first 30 s is unready.
    assert cpu_unready(_pod("never", started=-600, ready="False", ready_at=-590), T0)
    assert not cpu_unready(_pod("lost-readiness", started=-600, ready="False", ready_at=-100), T0)


def test_samples_sum_containers_and_classify_pods() -> None:
    pods = [_pod("a"), _pod("pending", phase="Pending"), _pod("failed", phase="Failed"),
            _pod("gone", deleting=True), _pod("new", started=-10, ready="False", ready_at=-10)]
    metrics = {"a": _metrics("a", "150m", "50000000n"), "new": _metrics("new", "1")}
    got = {s.name: s for s in samples(pods, metrics, "cpu", T0)}
    assert got["a"].usage == 200.0 and got["a"].request == 200.0 and got["a"].ready
    assert not got["pending"].ready and got["pending"].usage is None
    assert got["failed"].ignored and got["gone"].ignored
    assert not got["new"].ready  # counted as 0% in a scale-up only
    memory = {s.name: s for s in samples(pods, metrics, "memory", T0)}
    assert memory["new"].ready and not memory["pending"].ready  # readiness is a CPU rule; pending is not running
    assert memory["a"].usage == 10 * 1024 * 1024 and memory["a"].request == 10 * 1024 * 1024


def test_scale_up_with_a_starting_pod_counts_it_at_zero() -> None:
    pods = [_pod("a"), _pod("b"), _pod("new", started=-10, ready="False", ready_at=-10)]
    metrics = {n: _metrics(n, "200m", "200m") for n in ("a", "b", "new")}
    # Ready pods at 200%: ratio 4 over 2 pods; with the new pod at 0%: 400m*2/600m = 133% -> ratio 2.67 * 3 = 8.
    assert propose(CPU50, 3, samples(pods, metrics, "cpu", T0)).replicas == 8


def test_metric_status_reports_utilization_and_average() -> None:
    pods = samples([_pod("a"), _pod("b")], {"a": _metrics("a", "30m", "30m"), "b": _metrics("b", "60m", "60m")},
                   "cpu", T0)
    status = metric_status(CPU50, pods)
    assert status is not None and status.to_dict() == {"type": "Resource", "resource": {"name": "cpu", "current": {
        "averageValue": "90m", "averageUtilization": 45}}}
    assert metric_status(CPU50, samples([_pod("a")], {}, "cpu", T0)) is None


def _hpa(**spec: Any) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler.from_dict({"metadata": {"name": "web", "namespace": "default", "generation": 2},
                                              "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                                                       "maxReplicas": 5, **spec}})


def test_behavior_rules_fill_defaults() -> None:
    assert behavior_rules(_hpa()) == (DEFAULT_UP, DEFAULT_DOWN)
    up, down = behavior_rules(_hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 5, "selectPolicy": "Min",
                                                           "policies": [{"type": "Pods", "value": 1,
                                                                         "periodSeconds": 60}]}}))
    assert up == DEFAULT_UP
    assert (down.stabilization_seconds, down.select, down.policies) == (5, "Min", (Policy("Pods", 1, 60),))


def test_status_conditions_and_transition_times() -> None:
    hpa = _hpa()
    first = new_status(hpa, Outcome(1, 3, [Proposal(3, "90%")], [], "", ("True", "SucceededRescale", "to 3")),
                       T0, rescaled=True)
    conds = {c.type: c for c in first.conditions}
    assert (first.current_replicas, first.desired_replicas, first.observed_generation) == (1, 3, 2)
    assert first.last_scale_time == ts(0)
    assert conds["AbleToScale"].reason == "SucceededRescale" and conds["ScalingActive"].status == "True"
    assert conds["ScalingLimited"].status == "False"
    hpa.status = first
    later = T0 + timedelta(seconds=30)
    second = new_status(hpa, Outcome(3, 5, [], [], "TooManyReplicas"), later, rescaled=False)
    conds = {c.type: c for c in second.conditions}
    assert second.last_scale_time == ts(0)
    assert conds["ScalingLimited"].status == "True" and conds["ScalingLimited"].reason == "TooManyReplicas"
    assert conds["ScalingLimited"].last_transition_time == ts(30)
    assert conds["ScalingActive"].last_transition_time == ts(0)  # unchanged status keeps its time
    failing = new_status(hpa, Outcome(3, 3, [], [], active=("False", "FailedGetResourceMetric", "no metrics")),
                         later, rescaled=False)
    assert {c.type: c.status for c in failing.conditions}["ScalingActive"] == "False"

"""From API objects to the planner's inputs, and from its answer to the HPA's status: pure.

Why apart from the controller: which pods count, how ready a pod is for CPU
purposes, and what the status and conditions say are Kubernetes rules with
edge cases (pods still starting, pods without requests, a target at zero replicas);
they are tested here without a cluster, and the controller stays I/O only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from controllers.hpa.plan import DEFAULT_DOWN, DEFAULT_UP, MetricTarget, PodSample, Policy, Proposal, Rules
from kubelite.api import Pod
from kubelite.api.autoscaling import (
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerCondition,
    HPAScalingRules,
    MetricSpec,
    MetricStatus,
    MetricValueStatus,
    ResourceMetricStatus,
)
from kubelite.api.podutil import container_requests, get_condition
from kubelite.api.quantity import format_memory, parse_quantity
from kubelite.api.timeutil import format_time, parse_time_or_none

CPU_INITIALIZATION = timedelta(minutes=5)
INITIAL_READINESS_DELAY = timedelta(seconds=30)


def cpu_unready(pod: Pod, now: datetime) -> bool:
    """Kubernetes' rule for CPU: a pod that is not Ready, or only just started, would drag the
    average down, so it is left out of a scale-down and counted as 0% in a scale-up. Within the
    first 5 minutes any not-Ready pod is unready; later, only one that never became Ready."""
    cond = get_condition(pod.status, "Ready")
    started = parse_time_or_none(pod.status.start_time)
    if cond is None or started is None:
        return True
    if started + CPU_INITIALIZATION > now:
        return cond.status != "True"
    changed = parse_time_or_none(cond.last_transition_time)
    return cond.status == "False" and changed is not None and started + INITIAL_READINESS_DELAY > changed


def pod_usage(metrics: dict[str, Any], resource: str) -> float:
    """A PodMetrics' usage of `resource`, summed over containers (CPU in millicores, memory in bytes)."""
    total = 0.0
    for c in metrics.get("containers") or []:
        raw = (c.get("usage") or {}).get(resource)
        if raw is not None:
            amount = parse_quantity(str(raw))
            total += float(amount * 1000) if resource == "cpu" else float(amount)
    return total


def samples(pods: list[Pod], metrics: dict[str, dict[str, Any]], resource: str, now: datetime) -> list[PodSample]:
    """One sample per pod of the target; `metrics` is PodMetrics by pod name."""
    out = []
    for pod in pods:
        name = pod.metadata.name or ""
        ignored = pod.metadata.deletion_timestamp is not None or pod.status.phase == "Failed"
        request = 0.0
        for c in pod.spec.containers:
            req = container_requests(c, lenient=True)
            request += req.cpu if resource == "cpu" else req.memory
        ready = pod.status.phase != "Pending" and not (resource == "cpu" and cpu_unready(pod, now))
        found = metrics.get(name)
        usage = pod_usage(found, resource) if found is not None else None
        out.append(PodSample(name, usage, request, ready, ignored))
    return out


def metric_target(spec: MetricSpec) -> MetricTarget | None:
    """The planner's view of a Resource metric (None for anything validation would have refused)."""
    if spec.type != "Resource" or spec.resource is None:
        return None
    t = spec.resource.target
    if t.type == "Utilization" and t.average_utilization is not None:
        return MetricTarget(spec.resource.name, utilization=t.average_utilization)
    if t.type == "AverageValue" and t.average_value is not None:
        amount = parse_quantity(t.average_value)
        value = float(amount * 1000) if spec.resource.name == "cpu" else float(amount)
        return MetricTarget(spec.resource.name, average_value=value)
    return None


def _rules(rules: HPAScalingRules | None, default: Rules) -> Rules:
    if rules is None:
        return default
    policies = tuple(Policy(p.type, p.value, p.period_seconds) for p in rules.policies) or default.policies
    window = rules.stabilization_window_seconds
    return Rules(default.stabilization_seconds if window is None else window, policies,
                 rules.select_policy or default.select)


def behavior_rules(hpa: HorizontalPodAutoscaler) -> tuple[Rules, Rules]:
    """(scale-up, scale-down) rules from `spec.behavior`, Kubernetes' defaults where unset."""
    behavior = hpa.spec.behavior
    if behavior is None:
        return DEFAULT_UP, DEFAULT_DOWN
    return _rules(behavior.scale_up, DEFAULT_UP), _rules(behavior.scale_down, DEFAULT_DOWN)


def metric_status(target: MetricTarget, pods: list[PodSample]) -> MetricStatus | None:
    """The current value of one metric for `status.currentMetrics` (None without metrics)."""
    measured = [p for p in pods if not p.ignored and p.ready and p.usage is not None]
    if not measured:
        return None
    usage = sum(p.usage or 0.0 for p in measured)
    average = usage / len(measured)
    text = f"{math.ceil(average)}m" if target.resource == "cpu" else format_memory(math.ceil(average))
    current = MetricValueStatus(average_value=text)
    requests = sum(p.request for p in measured)
    if target.utilization is not None and requests > 0:
        current.average_utilization = int(usage * 100 / requests)
    return MetricStatus(type="Resource", resource=ResourceMetricStatus(name=target.resource, current=current))


@dataclass(frozen=True)
class Outcome:
    """What one sync concluded, for the status and the events."""

    current: int
    desired: int
    proposals: list[Proposal]
    metrics: list[MetricStatus]
    limited: str = ""  # the planner's ScalingLimited reason
    able: tuple[str, str, str] = ("True", "ReadyForNewScale", "recommended size matches current size")
    active: tuple[str, str, str] = ("True", "ValidMetricFound", "the HPA was able to successfully calculate "
                                    "a replica count")
    reason: str = ""  # why the target is resized, when not because of its metrics


def out_of_bounds(current: int, min_replicas: int, max_replicas: int) -> Outcome | None:
    """Kubernetes first brings a target outside [min, max] back to the bound, whatever its metrics say."""
    if current > max_replicas:
        desired, reason = max_replicas, "Current number of replicas above Spec.MaxReplicas"
    elif current < min_replicas:
        desired, reason = min_replicas, "Current number of replicas below Spec.MinReplicas"
    else:
        return None
    return Outcome(current, desired, [], [], able=("True", "SucceededRescale",
                                                   f"the HPA controller was able to update the target scale to "
                                                   f"{desired}"), reason=reason)


LIMIT_MESSAGES = {
    "TooManyReplicas": "the desired replica count is more than the maximum replica count",
    "TooFewReplicas": "the desired replica count is less than the minimum replica count",
    "ScaleUpLimit": "the desired replica count is increasing faster than the maximum scale rate",
    "ScaleDownLimit": "the desired replica count is decreasing faster than the maximum scale rate",
}


def _set(conditions: list[HorizontalPodAutoscalerCondition], type_: str, value: tuple[str, str, str],
         stamp: str) -> None:
    status, reason, message = value
    for c in conditions:
        if c.type == type_:
            if c.status != status:
                c.last_transition_time = stamp
            c.status, c.reason, c.message = status, reason, message
            return
    conditions.append(HorizontalPodAutoscalerCondition(type=type_, status=status, last_transition_time=stamp,
                                                       reason=reason, message=message))


def new_status(hpa: HorizontalPodAutoscaler, outcome: Outcome, now: datetime, rescaled: bool) -> Any:
    """The HPA's status after a sync (a copy; `rescaled`: the scale was changed now)."""
    status = hpa.status.model_copy(deep=True)
    stamp = format_time(now)
    status.observed_generation = hpa.metadata.generation
    status.current_replicas = outcome.current
    status.desired_replicas = outcome.desired
    if outcome.metrics or outcome.active[0] != "True":
        status.current_metrics = outcome.metrics
    if rescaled:
        status.last_scale_time = stamp
    _set(status.conditions, "AbleToScale", outcome.able, stamp)
    _set(status.conditions, "ScalingActive", outcome.active, stamp)
    if outcome.active[0] == "True":
        limited = ("True", outcome.limited, LIMIT_MESSAGES[outcome.limited]) if outcome.limited in LIMIT_MESSAGES \
            else ("False", "DesiredWithinRange", "the desired count is within the acceptable range")
        _set(status.conditions, "ScalingLimited", limited, stamp)
    return status


def rescale_reason(targets: list[MetricTarget], proposals: list[Proposal], desired: int) -> str:
    """`cpu resource utilization (percentage of request) above target`, naming the metric that decided."""
    for target, proposal in zip(targets, proposals, strict=True):
        if proposal.replicas == desired or len(targets) == 1:
            kind = "utilization (percentage of request)" if target.utilization is not None else "value"
            return f"{target.resource} resource {kind} above target" if proposal.replicas >= desired else \
                "All metrics below target"
    return "All metrics below target"

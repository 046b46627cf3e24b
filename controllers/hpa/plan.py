"""The HorizontalPodAutoscaler's decision, as pure functions: metrics in, replica count out.

Why pure: the algorithm is where autoscalers go wrong (flapping, runaway scale-up),
so it is tested on a table of Kubernetes' documented examples on a fake clock, and
the controller only reads the scale, pods and metrics, calls `plan`, and writes.

The steps, as Kubernetes documents them:
1. Per metric, a proposal `ceil(ratio * pods)`, where `ratio` is current/target usage
   (Utilization: per-pod usage over the pod's requests). Within a 10% tolerance of 1
   the proposal is the current count. Pods being deleted or failed are ignored. Pods
   without metrics count as 0% when scaling up and 100% of target when scaling down;
   not-ready pods (pending ones; for CPU also those not yet Ready, see `samples.cpu_unready`)
   count as 0% and only when scaling up. If filling those in
   flips the direction or lands within tolerance, there is no change.
2. The largest proposal over all metrics wins.
3. Stabilization: the result is bounded by the lowest recommendation of the scale-up
   window and the highest of the scale-down window (default 0 s up, 300 s down).
4. Rate limits from `behavior` policies (Pods/Percent per periodSeconds, combined by
   selectPolicy Max/Min, or Disabled), relative to the count at the start of each period.
5. Clamped to [minReplicas, maxReplicas].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

TOLERANCE = 0.1


@dataclass(frozen=True)
class Policy:
    kind: str  # "Pods" or "Percent"
    value: int
    period_seconds: int


@dataclass(frozen=True)
class Rules:
    """One direction's `behavior` (scaleUp or scaleDown)."""

    stabilization_seconds: int
    policies: tuple[Policy, ...]
    select: str = "Max"  # "Max", "Min" or "Disabled"


DEFAULT_UP = Rules(0, (Policy("Pods", 4, 15), Policy("Percent", 100, 15)), "Max")
DEFAULT_DOWN = Rules(300, (Policy("Percent", 100, 15),), "Max")


@dataclass(frozen=True)
class PodSample:
    """One pod of the target: its usage of the metric's resource (None: no metrics), its requests
    of that resource (summed over containers; 0: none), and whether it counts as ready for this
    resource (the caller decides: Kubernetes judges readiness differently for CPU)."""

    name: str
    usage: float | None
    request: float = 0.0
    ready: bool = True
    ignored: bool = False  # being deleted, or failed


@dataclass(frozen=True)
class MetricTarget:
    """A Resource metric: `utilization` percent of requests, or `average_value` per pod."""

    resource: str  # "cpu" (millicores) or "memory" (bytes)
    utilization: int | None = None
    average_value: float | None = None


@dataclass(frozen=True)
class Proposal:
    replicas: int
    current_display: str  # e.g. "45%" or "250m", for TARGETS and status
    error: str = ""


@dataclass(frozen=True)
class Event:
    """A past scale change (for rate limits): when, and by how many replicas (signed)."""

    time: float
    change: int


@dataclass
class History:
    """What the planner remembers per HPA between runs."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    replicas: int
    limited: str = ""  # "" or the ScalingLimited reason: TooManyReplicas, TooFewReplicas, ScaleUpLimit, ScaleDownLimit


def propose(target: MetricTarget, current: int, pods: list[PodSample]) -> Proposal:
    """Step 1 for one metric."""
    counted = [p for p in pods if not p.ignored]
    unready = [p for p in counted if not p.ready]
    missing = [p for p in counted if p not in unready and p.usage is None]
    ready = [p for p in counted if p not in unready and p.usage is not None]
    if not ready:
        return Proposal(current, "<unknown>", f"no metrics returned for {target.resource}")
    usage = sum(p.usage or 0.0 for p in ready)
    if target.utilization is not None:
        requests = sum(p.request for p in ready)
        if any(p.request <= 0 for p in counted):
            return Proposal(current, "<unknown>", f"missing request for {target.resource}")
        goal = target.utilization / 100.0
        ratio = (usage / requests) / goal
        display = f"{round(usage * 100 / requests)}%"
    else:
        goal_value = target.average_value or 0.0
        if goal_value <= 0:
            return Proposal(current, "<unknown>", "averageValue must be positive")
        ratio = (usage / len(ready)) / goal_value
        display = _value(target.resource, usage / len(ready))
    if not missing and not unready:
        if abs(ratio - 1.0) <= TOLERANCE:
            return Proposal(current, display)
        return Proposal(math.ceil(ratio * len(ready)), display)
    # Fill in the pods without usable metrics the conservative way, then re-check.
    scale_up = ratio > 1.0
    if target.utilization is not None:
        filled_usage = usage + sum(p.request * goal for p in missing if not scale_up)
        filled_requests = requests + sum(p.request for p in missing) + (sum(p.request for p in unready) if scale_up else 0)
        new_ratio = (filled_usage / filled_requests) / goal
    else:
        n = len(ready) + len(missing) + (len(unready) if scale_up else 0)
        filled_usage = usage + (0.0 if scale_up else len(missing) * goal_value)
        new_ratio = (filled_usage / n) / goal_value
    n_pods = len(ready) + len(missing) + (len(unready) if scale_up else 0)
    if abs(new_ratio - 1.0) <= TOLERANCE or (new_ratio > 1.0) != scale_up:
        return Proposal(current, display)
    proposed = math.ceil(new_ratio * n_pods)
    if (proposed > current) != scale_up and proposed != current:
        return Proposal(current, display)
    return Proposal(proposed, display)


def _value(resource: str, amount: float) -> str:
    return f"{round(amount)}m" if resource == "cpu" else f"{round(amount)}"


def stabilize(history: History, now: float, recommendation: int, current: int, up: Rules, down: Rules) -> int:
    """Step 3; records `recommendation` and forgets what is older than both windows."""
    up_cut, down_cut = now - up.stabilization_seconds, now - down.stabilization_seconds
    up_rec = down_rec = recommendation
    for when, rec in history.recommendations:
        if when > up_cut:
            up_rec = min(up_rec, rec)
        if when > down_cut:
            down_rec = max(down_rec, rec)
    history.recommendations = [(w, r) for w, r in history.recommendations if w > min(up_cut, down_cut)]
    history.recommendations.append((now, recommendation))
    result = current
    if result < up_rec:
        result = up_rec
    if result > down_rec:
        result = down_rec
    return result


def _changed_in(events: list[Event], now: float, period: int, up: bool) -> int:
    return sum(abs(e.change) for e in events if e.time > now - period and (e.change > 0) == up)


def _period_start(events: list[Event], now: float, period: int, current: int) -> int:
    """The replica count at the start of the policy's period: changes both ways within it undone."""
    return current - _changed_in(events, now, period, True) + _changed_in(events, now, period, False)


def up_limit(rules: Rules, events: list[Event], now: float, current: int) -> int:
    """Step 4 upward: the most replicas the policies allow now."""
    if rules.select == "Disabled":
        return current
    limits = []
    for p in rules.policies:
        start = _period_start(events, now, p.period_seconds, current)
        limits.append(start + p.value if p.kind == "Pods" else math.ceil(start * (1 + p.value / 100)))
    if not limits:
        return current
    return max(limits) if rules.select == "Max" else min(limits)


def down_limit(rules: Rules, events: list[Event], now: float, current: int) -> int:
    """Step 4 downward: the fewest replicas the policies allow now."""
    if rules.select == "Disabled":
        return current
    limits = []
    for p in rules.policies:
        start = _period_start(events, now, p.period_seconds, current)
        limits.append(start - p.value if p.kind == "Pods" else math.floor(start * (1 - p.value / 100)))
    if not limits:
        return current
    return min(limits) if rules.select == "Max" else max(limits)


def plan(history: History, now: float, current: int, proposals: list[int], min_replicas: int, max_replicas: int,
         up: Rules = DEFAULT_UP, down: Rules = DEFAULT_DOWN) -> Decision:
    """Steps 2-5: the replica count to set now (record it with `record` once the scale is written)."""
    desired = max(proposals) if proposals else current
    stable = stabilize(history, now, desired, current, up, down)
    limited = ""
    if stable > current:
        cap = up_limit(up, history.events, now, current)
        if stable > cap:
            stable, limited = cap, "ScaleUpLimit"
    elif stable < current:
        floor = down_limit(down, history.events, now, current)
        if stable < floor:
            stable, limited = floor, "ScaleDownLimit"
    if stable > max_replicas:
        stable, limited = max_replicas, "TooManyReplicas"
    if stable < min_replicas:
        stable, limited = min_replicas, "TooFewReplicas"
    return Decision(stable, limited)


def record(history: History, now: float, old: int, new: int, keep_seconds: int = 1800) -> None:
    """Remember a scale change for later rate limits (and forget ones older than any period)."""
    history.events = [e for e in history.events if e.time > now - keep_seconds]
    if new != old:
        history.events.append(Event(now, new - old))

"""Small pod and condition helpers that several components need to agree on.

Readiness, conditions and resource requests are computed here once so the
scheduler, the controllers and kctl cannot disagree about what "ready" or
"requests 600m" means.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, overload

from kubelite.api.container import Container
from kubelite.api.meta import now, parse_time
from kubelite.api.pods import Pod
from kubelite.api.quantity import cpu_millis, memory_bytes

# What the scheduler assumes for containers that request nothing (like kube-scheduler's
# non-zero defaults for scoring only; fit checks use the real, possibly zero, requests).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


class ConditionLike(Protocol):
    """Any typed condition (PodCondition, NodeCondition, DeploymentCondition, ...)."""

    type: str
    status: str
    reason: str | None
    message: str | None
    last_transition_time: str | None


C = TypeVar("C", bound=ConditionLike)


class HasConditions(Protocol[C]):
    conditions: list[C]


@overload
def get_condition(status: HasConditions[C], type_: str) -> C | None: ...
@overload
def get_condition(status: Sequence[C], type_: str) -> C | None: ...
def get_condition(status: HasConditions[C] | Sequence[C], type_: str) -> C | None:
    """The condition of `type_` from a status object (or a list of conditions), else None."""
    conditions: Sequence[C] = status if isinstance(status, Sequence) else status.conditions
    return next((c for c in conditions if c.type == type_), None)


def set_condition(conditions: list[C], cond: C) -> bool:
    """Insert or replace the condition of cond.type; returns True when something meaningful changed.

    lastTransitionTime moves only when status changes (kept from the old one
    otherwise; set to now() if neither has it). Heartbeat/probe timestamps alone
    do not count as a change.
    """
    for i, old in enumerate(conditions):
        if old.type != cond.type:
            continue
        if old.status == cond.status:
            cond.last_transition_time = cond.last_transition_time or old.last_transition_time or now()
        elif cond.last_transition_time is None or cond.last_transition_time == old.last_transition_time:
            cond.last_transition_time = now()
        changed = (old.status, old.reason, old.message) != (cond.status, cond.reason, cond.message)
        conditions[i] = cond
        return changed
    if cond.last_transition_time is None:
        cond.last_transition_time = now()
    conditions.append(cond)
    return True


def condition_true(status: HasConditions[C] | Sequence[C], type_: str) -> bool:
    cond = get_condition(status, type_)
    return cond is not None and cond.status == "True"


def pod_is_ready(pod: Pod) -> bool:
    """Ready condition True (what Endpoints and Deployment availability count)."""
    return condition_true(pod.status, "Ready")


def pod_is_available(pod: Pod, min_ready_seconds: int, at: float | None = None) -> bool:
    """Ready for at least min_ready_seconds (Deployment availability); `at` is a UNIX time."""
    cond = get_condition(pod.status, "Ready")
    if cond is None or cond.status != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    if not cond.last_transition_time:
        return False
    since = parse_time(cond.last_transition_time).timestamp()
    return (time.time() if at is None else at) - since >= min_ready_seconds


def pod_is_terminal(pod: Pod) -> bool:
    """Succeeded or Failed: never runs again, does not count as a replica."""
    return pod.status.phase in ("Succeeded", "Failed")


def pod_is_active(pod: Pod) -> bool:
    """Counts as a replica: not terminal and not being deleted."""
    return not pod_is_terminal(pod) and pod.metadata.deletion_timestamp is None


@dataclass(frozen=True)
class Requests:
    cpu_millis: int = 0
    memory_bytes: int = 0

    def __add__(self, other: Requests) -> Requests:
        return Requests(self.cpu_millis + other.cpu_millis, self.memory_bytes + other.memory_bytes)

    def max(self, other: Requests) -> Requests:
        return Requests(max(self.cpu_millis, other.cpu_millis), max(self.memory_bytes, other.memory_bytes))


def container_requests(c: Container, non_zero: bool = False) -> Requests:
    """One container's cpu/memory requests; `non_zero` substitutes scoring defaults for unset ones."""
    req = c.resources.requests
    cpu = cpu_millis(req["cpu"]) if "cpu" in req else (DEFAULT_MILLI_CPU_REQUEST if non_zero else 0)
    mem = memory_bytes(req["memory"]) if "memory" in req else (DEFAULT_MEMORY_REQUEST if non_zero else 0)
    return Requests(cpu, mem)


def pod_requests(pod: Pod, non_zero: bool = False) -> Requests:
    """Effective pod requests, Kubernetes' rule.

    Regular containers (and sidecar init containers, restartPolicy Always) run
    together, so they add up; ordinary init containers run one at a time before
    them, so each needs only its own request plus the sidecars started before it.
    The pod needs the larger of the two, plus spec.overhead.
    """
    sidecars = Requests()
    init_peak = Requests()
    for c in pod.spec.init_containers:
        r = container_requests(c, non_zero)
        if c.restart_policy == "Always":
            sidecars = sidecars + r
            init_peak = init_peak.max(sidecars)
        else:
            init_peak = init_peak.max(sidecars + r)
    running = sidecars
    for c in pod.spec.containers:
        running = running + container_requests(c, non_zero)
    total = running.max(init_peak)
    overhead = pod.spec.overhead
    if overhead:
        total = total + Requests(cpu_millis(overhead.get("cpu", "0")), memory_bytes(overhead.get("memory", "0")))
    return total


def qos_class(pod: Pod) -> str:
    """Guaranteed (limits == requests for cpu+memory everywhere), BestEffort (nothing set), else Burstable."""
    containers = pod.spec.all_containers()
    if not any(c.resources.requests or c.resources.limits for c in containers):
        return "BestEffort"
    for c in containers:
        limits, requests = c.resources.limits, c.resources.requests
        for res in ("cpu", "memory"):
            if res not in limits:
                return "Burstable"
            if res in requests:
                parse = cpu_millis if res == "cpu" else memory_bytes
                if parse(requests[res]) != parse(limits[res]):
                    return "Burstable"
    return "Guaranteed"

"""The one home of pod and condition helpers that several components must agree on.

Why one module: readiness, availability, phases, condition bookkeeping and
resource requests used to be rewritten in the scheduler and in several
controllers, and the copies drifted (a Ready condition without a transition
time was "available" in one and not in another). Each rule now exists once,
with Kubernetes' semantics, and tests/unit/api/test_podutil.py pins them.
Everything is pure; functions that need the time take `now` (or default to
the current time).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar, overload

from kubelite.api.container import Container
from kubelite.api.meta import ObjectMeta
from kubelite.api.pods import Pod
from kubelite.api.quantity import cpu_millis, memory_bytes
from kubelite.api.timeutil import EPOCH, now, parse_time_or_none, utcnow

log = logging.getLogger(__name__)

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


def transition_time(old: ConditionLike | None, status: str, stamp: str) -> str:
    """The lastTransitionTime a condition with `status` gets when `old` was there before.

    Kubernetes' one rule: the time moves only when the status changes. Same
    status keeps the old time (`stamp` only if the old one had none); a new or
    changed status gets `stamp`.
    """
    if old is not None and old.status == status and old.last_transition_time:
        return old.last_transition_time
    return stamp


def set_condition(conditions: list[C], cond: C) -> bool:
    """Insert or replace the condition of cond.type; returns True when something meaningful changed.

    Kubernetes' rule (meta.SetStatusCondition, podutil.UpdatePodCondition):
    lastTransitionTime moves only when the status changes -- then it is the one
    `cond` carries, else now(); with the same status the old one is kept (cond's
    own, or now(), only if the old one had none). "Meaningful" is status, reason
    or message: heartbeat/probe timestamps alone are stored but do not count, so
    a caller does not write an object just because a heartbeat moved.
    """
    for i, old in enumerate(conditions):
        if old.type != cond.type:
            continue
        cond.last_transition_time = transition_time(old, cond.status, cond.last_transition_time or now())
        changed = (old.status, old.reason, old.message) != (cond.status, cond.reason, cond.message)
        conditions[i] = cond
        return changed
    if not cond.last_transition_time:
        cond.last_transition_time = now()
    conditions.append(cond)
    return True


def has_condition(status: HasConditions[C] | Sequence[C], wanted: ConditionLike) -> bool:
    """Is `wanted` already there, ignoring timestamps (status, reason and message equal)?

    Lets a writer skip an API call when its own last write is what it sees.
    """
    cond = get_condition(status, wanted.type)
    return cond is not None and (cond.status, cond.reason, cond.message) == (wanted.status, wanted.reason,
                                                                              wanted.message)


def condition_status(status: HasConditions[C] | Sequence[C], type_: str) -> str | None:
    """"True", "False", "Unknown", or None when the condition is absent."""
    cond = get_condition(status, type_)
    return None if cond is None else cond.status


def condition_true(status: HasConditions[C] | Sequence[C], type_: str) -> bool:
    return condition_status(status, type_) == "True"


def is_pod_ready(pod: Pod) -> bool:
    """Ready condition True (k8s IsPodReady): what Endpoints, Jobs and Deployments count as ready."""
    return condition_true(pod.status, "Ready")


def ready_since(pod: Pod) -> datetime | None:
    """When a ready pod became ready; None when not ready or the time is unknown/unparsable."""
    cond = get_condition(pod.status, "Ready")
    if cond is None or cond.status != "True":
        return None
    return parse_time_or_none(cond.last_transition_time)


def is_pod_available(pod: Pod, min_ready_seconds: int, now: datetime | None = None) -> bool:
    """Kubernetes' IsPodAvailable: ready, and ready for longer than minReadySeconds at `now`.

    Exactly as upstream: with minReadySeconds 0 readiness is enough; otherwise
    the Ready condition needs a transition time and lastTransitionTime +
    minReadySeconds must lie strictly before `now`. A Ready condition without a
    (parsable) transition time is therefore NOT available when minReadySeconds
    > 0 -- nothing proves it has been ready long enough. `now` defaults to the
    current time; planners pass their clock in.
    """
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    if since is None:
        return False
    return since + timedelta(seconds=min_ready_seconds) < (utcnow() if now is None else now)


TERMINAL_PHASES = ("Succeeded", "Failed")
"""Phases a pod never leaves: its containers will not run again."""


def is_pod_terminal(pod: Pod) -> bool:
    """Succeeded or Failed (k8s IsPodTerminal): never runs again, does not count as a replica."""
    return pod.status.phase in TERMINAL_PHASES


def is_pod_active(pod: Pod) -> bool:
    """Counts as a replica (k8s IsPodActive): not terminal and not being deleted."""
    return not is_pod_terminal(pod) and pod.metadata.deletion_timestamp is None


def creation_time(meta: ObjectMeta) -> datetime:
    """metadata.creationTimestamp, or the epoch when unset/unparsable (oldest sorts first)."""
    return parse_time_or_none(meta.creation_timestamp) or EPOCH


def restart_count(pod: Pod) -> int:
    """The most restarts of any app container (what ranks a flapping pod for deletion)."""
    return max((cs.restart_count or 0 for cs in pod.status.container_statuses), default=0)


@dataclass(frozen=True, slots=True)
class Requests:
    """Requested cpu (millicores) and memory (bytes): plain ints the scheduler adds up per node."""

    cpu: int = 0
    memory: int = 0

    def __add__(self, other: Requests) -> Requests:
        return Requests(self.cpu + other.cpu, self.memory + other.memory)

    def max(self, other: Requests) -> Requests:
        return Requests(max(self.cpu, other.cpu), max(self.memory, other.memory))


def read_quantity(values: Mapping[str, object] | None, name: str, parse: Callable[[str], int],
                  lenient: bool = False) -> int:
    """values[name] through `parse` (cpu_millis, memory_bytes...), 0 when absent.

    `lenient` turns an unparsable value into 0 (logged) instead of ValueError:
    the scheduler must not crash on a pod or node that validation let through.
    """
    if not values:
        return 0
    raw = values.get(name)
    if raw is None:
        return 0
    try:
        return parse(str(raw))
    except ValueError:
        if not lenient:
            raise
        log.warning("ignoring unparsable quantity", extra={"resource": name, "value": str(raw)})
        return 0


def container_requests(c: Container, non_zero: bool = False, lenient: bool = False, limits: bool = False
                       ) -> Requests:
    """One container's cpu/memory requests (or `limits`); `non_zero` substitutes scoring defaults for unset ones."""
    req = c.resources.limits if limits else c.resources.requests
    cpu = read_quantity(req, "cpu", cpu_millis, lenient) if "cpu" in req else (DEFAULT_MILLI_CPU_REQUEST if non_zero else 0)
    mem = (read_quantity(req, "memory", memory_bytes, lenient) if "memory" in req
           else (DEFAULT_MEMORY_REQUEST if non_zero else 0))
    return Requests(cpu, mem)


def pod_requests(pod: Pod, non_zero: bool = False, lenient: bool = False, limits: bool = False) -> Requests:
    """Effective pod requests, Kubernetes' rule (resourcehelper.PodRequests).

    Regular containers (and sidecar init containers, restartPolicy Always) run
    together, so they add up; ordinary init containers run one at a time before
    them, so each needs only its own request plus the sidecars started before it.
    The pod needs the larger of the two, plus spec.overhead. `lenient` is for
    the scheduler, which must never crash on a quantity validation let through:
    such a value counts as 0. `limits` adds up limits by the same rule (what a quota on
    limits.cpu charges).
    """
    sidecars = Requests()
    init_peak = Requests()
    for c in pod.spec.init_containers:
        r = container_requests(c, non_zero, lenient, limits)
        if c.restart_policy == "Always":
            sidecars = sidecars + r
            init_peak = init_peak.max(sidecars)
        else:
            init_peak = init_peak.max(sidecars + r)
    running = sidecars
    for c in pod.spec.containers:
        running = running + container_requests(c, non_zero, lenient, limits)
    total = running.max(init_peak)
    overhead = pod.spec.overhead
    if overhead:
        total = total + Requests(read_quantity(overhead, "cpu", cpu_millis, lenient),
                                 read_quantity(overhead, "memory", memory_bytes, lenient))
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


def claim_names(pod: Pod) -> list[str]:
    """The PersistentVolumeClaims the pod mounts (in its namespace)."""
    return [v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim]

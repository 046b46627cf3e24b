"""PodDisruptionBudget arithmetic: how many pods must stay healthy, how many may be disrupted now.

Why pure: the rules decide whether `kubectl drain` may take a pod, so each
case (an integer or a percentage minAvailable, maxUnavailable against the
owners' desired scale, pods already being evicted) is a unit test here.

* minAvailable N: desiredHealthy = N, expectedPods = the matching pods.
* minAvailable P%: expectedPods = the desired scale of the pods' controllers
  (their `spec.replicas`; the pod count when a pod has no scalable owner),
  desiredHealthy = ceil(P% of it).
* maxUnavailable N or P%: expectedPods as above, desiredHealthy = expected
  - N (or - ceil(P% of expected)), never below 0.
* neither: minAvailable 1 (policy/v1beta1's default; the conservative reading
  of a budget that says nothing).
* currentHealthy counts matching pods that are Ready, not terminating and not
  in `disruptedPods` (evictions granted but not yet seen as deletions);
  disruptionsAllowed = max(0, currentHealthy - desiredHealthy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from kubelite.api import Pod
from kubelite.api.base import IntOrString
from kubelite.api.meta import Condition
from kubelite.api.podutil import is_pod_ready
from kubelite.api.policy import PodDisruptionBudget, PodDisruptionBudgetStatus
from kubelite.api.timeutil import format_time, parse_time_or_none

DISRUPTED_POD_TIMEOUT = timedelta(minutes=2)
"""An eviction granted this long ago whose pod still exists no longer counts as in flight."""


def percent_of(value: IntOrString, total: int) -> int:
    """An int as is; "P%" of `total`, rounded up (as Kubernetes rounds budgets)."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.endswith("%"):
        return math.ceil(int(text[:-1]) * total / 100)
    return int(text)


def expected_and_desired(pdb: PodDisruptionBudget, pod_count: int, scale: int | None) -> tuple[int, int]:
    """(expectedPods, desiredHealthy). `scale`: the controllers' desired replicas (None: unknown)."""
    spec = pdb.spec
    total = scale if scale is not None else pod_count
    if spec.max_unavailable is not None:
        return total, max(0, total - percent_of(spec.max_unavailable, total))
    min_available: IntOrString = spec.min_available if spec.min_available is not None else 1
    if isinstance(min_available, int):
        return pod_count, min_available
    return total, percent_of(min_available, total)


def is_healthy(pod: Pod) -> bool:
    return pod.metadata.deletion_timestamp is None and pod.status.phase == "Running" and is_pod_ready(pod)


def live_disruptions(pdb: PodDisruptionBudget, pods: Sequence[Pod], now: datetime) -> dict[str, str]:
    """`disruptedPods` entries still in flight: pod present, not yet deleting, granted recently."""
    present = {p.metadata.name: p for p in pods}
    out: dict[str, str] = {}
    for name, stamp in pdb.status.disrupted_pods.items():
        pod = present.get(name)
        when = parse_time_or_none(stamp)
        if pod is None or pod.metadata.deletion_timestamp is not None or when is None:
            continue
        if now - when < DISRUPTED_POD_TIMEOUT:
            out[name] = stamp
    return out


def compute_status(pdb: PodDisruptionBudget, pods: Sequence[Pod], scale: int | None,
                   now: datetime) -> PodDisruptionBudgetStatus:
    """The budget's status from the pods its selector matches."""
    disrupted = live_disruptions(pdb, pods, now)
    healthy = sum(1 for p in pods if is_healthy(p) and p.metadata.name not in disrupted)
    expected, desired = expected_and_desired(pdb, len(pods), scale)
    allowed = max(0, healthy - desired)
    old = {c.type: c for c in pdb.status.conditions}
    ok = allowed > 0
    status = "True" if ok else "False"
    reason = "SufficientPods" if ok else "InsufficientPods"
    prev = old.get("DisruptionAllowed")
    since = prev.last_transition_time if prev is not None and prev.status == status else format_time(now)
    condition = Condition(type="DisruptionAllowed", status=status, reason=reason,
                          observed_generation=pdb.metadata.generation, last_transition_time=since,
                          message="" if ok else f"{healthy} healthy pods, {desired} needed")
    return PodDisruptionBudgetStatus(
        observed_generation=pdb.metadata.generation, disrupted_pods=disrupted, disruptions_allowed=allowed,
        current_healthy=healthy, desired_healthy=desired, expected_pods=expected, conditions=[condition],
    )


def owners_scale(pods: Sequence[Pod], replicas_of: Mapping[str, int]) -> int | None:
    """Sum of the desired replicas of the pods' distinct controllers (by uid); None if any pod has none known."""
    seen: dict[str, int] = {}
    for pod in pods:
        ref = next((r for r in pod.metadata.owner_references if r.controller), None)
        if ref is None or ref.uid not in replicas_of:
            return None
        seen[ref.uid] = replicas_of[ref.uid]
    return sum(seen.values()) if seen else None

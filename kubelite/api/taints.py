"""Taint/toleration matching: one definition for the scheduler, the DaemonSet
controller and the node lifecycle (NoExecute eviction) controller, which must
agree exactly on which pods may stay on or be placed on a tainted node."""

from __future__ import annotations

from collections.abc import Iterable

from kubelite.api.core import Taint
from kubelite.api.pods import Toleration

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes' ToleratesTaint: effect and key must match when given; Exists ignores the value."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator == "Exists":
        return True
    if not toleration.key:
        return False  # an empty key only makes sense with Exists
    return (toleration.value or "") == (taint.value or "")


def untolerated(taints: Iterable[Taint], tolerations: list[Toleration],
                effects: tuple[str, ...] = ("NoSchedule", "NoExecute")) -> Taint | None:
    """The first taint with one of `effects` that no toleration matches."""
    for taint in taints:
        if taint.effect in effects and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def toleration_seconds(taints: Iterable[Taint], tolerations: list[Toleration]) -> float | None:
    """How long a pod may stay under these NoExecute taints: 0 = evict now, None = forever.

    The shortest tolerationSeconds among the tolerations that match any of the
    taints wins (Kubernetes' taint manager); an untolerated taint means now.
    """
    shortest: float | None = None
    for taint in taints:
        if taint.effect != "NoExecute":
            continue
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        for t in matching:
            if t.toleration_seconds is not None:
                seconds = max(0.0, float(t.toleration_seconds))
                shortest = seconds if shortest is None else min(shortest, seconds)
    return shortest

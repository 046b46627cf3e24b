"""Small facts about pods and owner references that every controller shares.

Why one module: "is this pod active / ready / available", "who controls this
object" and "which pod goes first when scaling down" must mean the same thing
in the ReplicaSet controller, the Deployment controller and their tests.
Everything here is pure (time is passed in).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from kubelite.api import ObjectMeta, OwnerReference, Pod, Resource

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp ("2026-11-24T02:50:44Z", fractions allowed); None if unparsable."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def creation_time(meta: ObjectMeta) -> datetime:
    return parse_time(meta.creation_timestamp) or _EPOCH


# --- owner references -----------------------------------------------------------------------------


def make_controller_ref(owner: Resource, api_version: str, kind: str) -> OwnerReference:
    """An ownerReference that makes `owner` the managing controller and blocks its
    foreground deletion until the dependent is gone (what Kubernetes controllers set)."""
    return OwnerReference(
        api_version=api_version,
        kind=kind,
        name=owner.metadata.name,
        uid=owner.metadata.uid or "",
        controller=True,
        block_owner_deletion=True,
    )


# --- pod state ---------------------------------------------------------------------------------


def is_pod_terminal(pod: Pod) -> bool:
    return pod.status.phase in ("Succeeded", "Failed")


def is_pod_active(pod: Pod) -> bool:
    """Counts towards replicas: not terminating and not finished."""
    return pod.metadata.deletion_timestamp is None and not is_pod_terminal(pod)


def _ready_condition_time(pod: Pod) -> tuple[bool, datetime | None]:
    for cond in pod.status.conditions:
        if cond.type == "Ready":
            return cond.status == "True", parse_time(cond.last_transition_time)
    return False, None


def is_pod_ready(pod: Pod) -> bool:
    """Ready condition is True (set by the kubelet from readiness probes)."""
    return _ready_condition_time(pod)[0]


def is_pod_available(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least `min_ready_seconds` (Kubernetes' definition of available).

    A Ready condition without a transition time counts as ready since forever,
    so a kubelet that does not stamp times never blocks availability.
    """
    ready, since = _ready_condition_time(pod)
    if not ready:
        return False
    if min_ready_seconds <= 0 or since is None:
        return True
    return (now - since).total_seconds() >= min_ready_seconds


def ready_since(pod: Pod) -> datetime | None:
    ready, since = _ready_condition_time(pod)
    return since if ready else None


def restart_count(pod: Pod) -> int:
    return max((cs.restart_count or 0 for cs in pod.status.container_statuses), default=0)


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_sort_key(pod: Pod, colocated: int = 0) -> tuple[int, int, int, int, float, int, float]:
    """Sort key: smaller = deleted first when scaling down.

    Order (as Kubernetes' ActivePodsWithRanks): unscheduled before scheduled;
    Pending < Unknown < Running; not ready before ready; pods sharing a node with
    more of their siblings before lonelier ones (spreads the survivors); ready
    for a shorter time first; more restarts first; newer before older.
    """
    scheduled = 1 if pod.spec.node_name else 0
    phase = _PHASE_RANK.get(pod.status.phase or "Pending", 0)
    ready = 1 if is_pod_ready(pod) else 0
    since = ready_since(pod)
    # ready longer = earlier timestamp = kept; negate so later (newer) readiness sorts first
    ready_order = -since.timestamp() if (ready and since is not None) else 0.0
    return (
        scheduled,
        phase,
        ready,
        -colocated,
        ready_order,
        -restart_count(pod),
        -creation_time(pod.metadata).timestamp(),
    )


def pods_to_delete(pods: Sequence[Pod], count: int, related: Sequence[Pod] = ()) -> list[Pod]:
    """Choose the `count` pods to delete, best candidates first.

    `related` are the active pods used to count siblings per node (defaults to
    `pods` themselves); a node crowded with siblings loses a pod first.
    """
    if count <= 0:
        return []
    per_node = Counter(p.spec.node_name for p in (related or pods) if p.spec.node_name)
    ranked = sorted(
        pods,
        key=lambda p: (
            deletion_sort_key(p, per_node.get(p.spec.node_name or "", 0) if p.spec.node_name else 0),
            p.metadata.name,
        ),
    )
    return ranked[:count]

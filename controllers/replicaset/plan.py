"""Pure ReplicaSet decisions: how many pods to create, which to delete, what status to show.

Why pure: "keep exactly spec.replicas active pods" has many corner cases
(terminating pods, finished pods, unscheduled pods, minReadySeconds) and each
one is a unit test here instead of a cluster scenario.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from controllers import podutil
from controllers.podutil import pods_to_delete
from controllers.slowstart import BURST_REPLICAS
from kubelite.api import Pod, ReplicaSet, ReplicaSetStatus
from kubelite.api.podutil import is_pod_active, is_pod_available, is_pod_ready, ready_since

RS_API_VERSION = "apps/v1"
RS_KIND = "ReplicaSet"


@dataclass
class ReplicaPlan:
    create: int = 0
    delete: list[Pod] = field(default_factory=list)


def desired(rs: ReplicaSet) -> int:
    return 1 if rs.spec.replicas is None else rs.spec.replicas


def plan_replicas(rs: ReplicaSet, active_pods: Sequence[Pod], burst: int = BURST_REPLICAS) -> ReplicaPlan:
    """Create the shortfall or delete the surplus (worst-placed / least-ready / newest first)."""
    diff = len(active_pods) - desired(rs)
    if diff < 0:
        return ReplicaPlan(create=min(-diff, burst))
    if diff > 0:
        return ReplicaPlan(delete=pods_to_delete(active_pods, min(diff, burst)))
    return ReplicaPlan()


def pod_from_template(rs: ReplicaSet) -> Pod:
    """A new pod for `rs`: the template's labels, annotations and spec, owned by the RS."""
    return podutil.pod_from_template(rs, rs.spec.template, RS_API_VERSION, RS_KIND)


def fully_labeled(pod: Pod, template_labels: dict[str, str]) -> bool:
    return all(pod.metadata.labels.get(k) == v for k, v in template_labels.items())


def compute_status(rs: ReplicaSet, owned_active: Sequence[Pod], now: datetime) -> ReplicaSetStatus:
    """Status from the owned active pods; existing conditions are carried over."""
    min_ready = rs.spec.min_ready_seconds or 0
    template_labels = rs.spec.template.metadata.labels
    return ReplicaSetStatus(
        replicas=len(owned_active),
        fully_labeled_replicas=sum(1 for p in owned_active if fully_labeled(p, template_labels)),
        ready_replicas=sum(1 for p in owned_active if is_pod_ready(p)),
        available_replicas=sum(1 for p in owned_active if is_pod_available(p, min_ready, now)),
        observed_generation=rs.metadata.generation,
        conditions=[c.copy_deep() for c in rs.status.conditions],
    )


def next_availability_check(rs: ReplicaSet, owned_active: Sequence[Pod], now: datetime) -> float | None:
    """Seconds until a ready pod crosses minReadySeconds (then status must be rewritten), if any."""
    min_ready = rs.spec.min_ready_seconds or 0
    if min_ready <= 0:
        return None
    waits = []
    for pod in owned_active:
        if not is_pod_ready(pod) or is_pod_available(pod, min_ready, now):
            continue
        since = ready_since(pod)
        if since is not None:
            waits.append(max(0.0, min_ready - (now - since).total_seconds()))
    return min(waits) + 0.1 if waits else None


def active(pods: Sequence[Pod]) -> list[Pod]:
    return [p for p in pods if is_pod_active(p)]

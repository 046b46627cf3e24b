"""Controller-only pod facts: owner references and which pod goes first on scale-down.

Why here and not in kubelite.api.podutil: these rules belong to the workload
controllers (ReplicaSet, Job, DaemonSet...) alone. The pod facts they build
on -- ready, available, active, when created -- live in kubelite.api.podutil,
shared with the scheduler and kctl. Everything here is pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from kubelite.api import ObjectMeta, OwnerReference, Pod, PodTemplateSpec, Resource
from kubelite.api.podutil import creation_time, is_pod_ready, ready_since, restart_count

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


def pod_from_template(owner: Resource, template: PodTemplateSpec, api_version: str, kind: str,
                      labels: Mapping[str, str] | None = None) -> Pod:
    """A new pod of `owner`: the template's labels (then `labels`), annotations and spec (a copy),
    named `<owner>-<random suffix>` in the owner's namespace, with `owner` as its controller."""
    meta = ObjectMeta(
        generate_name=f"{owner.metadata.name}-",
        namespace=owner.metadata.namespace,
        labels={**template.metadata.labels, **(labels or {})},
        annotations=dict(template.metadata.annotations),
        owner_references=[make_controller_ref(owner, api_version, kind)],
    )
    return Pod(metadata=meta, spec=template.spec.copy_deep())


# --- scale-down ranking --------------------------------------------------------------------------


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

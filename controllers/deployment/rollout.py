"""Pure rollout decisions of the Deployment controller.

Each function takes the Deployment and its ReplicaSets as last seen in the
caches and answers with target sizes (ReplicaSet name -> replicas); the
controller writes them. The rules follow Kubernetes' deployment controller:

* rolling update: grow the new RS while the total stays within
  replicas + maxSurge; shrink old RSes while availability stays at or above
  replicas - maxUnavailable (unhealthy old pods go first);
* scale event (only spec.replicas changed): resize the single active RS, or
  spread the change over all active RSes in proportion to their size;
* Recreate: everything old to zero first, then the new one up.
"""

from __future__ import annotations

from collections.abc import Sequence

from controllers.deployment.templatehash import (
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    active_replica_sets,
    desired_replicas,
    int_annotation,
    is_rolling,
    max_surge,
    max_unavailable,
    name_of,
    oldest_first,
    revision_of,
    rs_replicas,
    sum_spec_replicas,
    sum_status,
)
from kubelite.api import Deployment, ReplicaSet
from kubelite.api.podutil import creation_time

Targets = dict[str, int]
"""ReplicaSet name -> replicas it should have."""


def new_rs_replicas(d: Deployment, all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet | None) -> int:
    """How big the new RS may be right now.

    Rolling: grow by what maxSurge leaves room for, never past spec.replicas.
    Recreate: spec.replicas at once (old ones are already gone by then).
    """
    replicas = desired_replicas(d)
    current_new = rs_replicas(new_rs) if new_rs is not None else 0
    if not is_rolling(d):
        return replicas
    current_total = sum_spec_replicas(all_rss)
    max_total = replicas + max_surge(d)
    if current_total >= max_total:
        return current_new
    scale_up = min(max_total - current_total, replicas - current_new)
    return current_new + max(0, scale_up)


def reconcile_new_rs(d: Deployment, all_rss: Sequence[ReplicaSet], new_rs: ReplicaSet) -> int | None:
    """Target size of the new RS during a rolling update, or None when it is right."""
    replicas = desired_replicas(d)
    current = rs_replicas(new_rs)
    if current == replicas:
        return None
    if current > replicas:
        return replicas
    target = new_rs_replicas(d, all_rss, new_rs)
    return None if target == current else target


def reconcile_old_rss(d: Deployment, new_rs: ReplicaSet | None, old_rss: Sequence[ReplicaSet]) -> Targets:
    """How far old RSes may shrink now without dropping below minimum availability."""
    active_old = active_replica_sets(old_rss)
    if sum_spec_replicas(active_old) == 0:
        return {}
    all_rss: list[ReplicaSet] = [*active_old, *([new_rs] if new_rs is not None else [])]
    sizes: Targets = {name_of(rs): rs_replicas(rs) for rs in active_old}
    replicas = desired_replicas(d)
    min_available = replicas - max_unavailable(d)
    new_unavailable = 0
    if new_rs is not None:
        new_unavailable = max(0, rs_replicas(new_rs) - int(new_rs.status.available_replicas or 0))
    all_pods = sum_spec_replicas(all_rss)
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}

    # 1. Unhealthy old pods cost no availability: drop them first (oldest RS first).
    cleaned = 0
    for rs in oldest_first(active_old):
        if cleaned >= max_scaled_down:
            break
        size = sizes[name_of(rs)]
        available = int(rs.status.available_replicas or 0)
        if size == 0 or size <= available:
            continue
        step = min(max_scaled_down - cleaned, size - available)
        sizes[name_of(rs)] = size - step
        cleaned += step

    # 2. Then healthy ones, as far as availability above the minimum allows.
    available_total = sum(available_within_spec(rs) for rs in all_rss)
    if available_total > min_available:
        budget = available_total - min_available
        scaled = 0
        for rs in oldest_first(active_old):
            if scaled >= budget:
                break
            size = sizes[name_of(rs)]
            if size == 0:
                continue
            step = min(size, budget - scaled)
            sizes[name_of(rs)] = size - step
            scaled += step
    return {name: size for name, size in sizes.items() if size != _size_of(active_old, name)}


def available_within_spec(rs: ReplicaSet) -> int:
    """Available pods of `rs`, counted no higher than its spec.replicas.

    Right after a ReplicaSet is shrunk its status still counts the pods its
    controller is about to delete; trusting that count lets a second pass
    shrink again on availability that is already gone (a rollout with
    maxUnavailable 1 was seen at two below). A shrunk RS can keep at most
    spec.replicas pods, so that is the most it may be credited with.
    """
    return min(int(rs.status.available_replicas or 0), rs_replicas(rs))


def _size_of(rss: Sequence[ReplicaSet], name: str) -> int:
    return next(rs_replicas(rs) for rs in rss if name_of(rs) == name)


def find_active_or_latest(new_rs: ReplicaSet | None, old_rss: Sequence[ReplicaSet]) -> ReplicaSet | None:
    """The only RS with replicas > 0; else, when none has any, the new (or newest) one; else None."""
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=lambda rs: (creation_time(rs.metadata), name_of(rs)), reverse=True)
    active = active_replica_sets([*newest_first, new_rs])
    if len(active) == 1:
        return active[0]
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    return None


def is_saturated(d: Deployment, rs: ReplicaSet | None) -> bool:
    """The new RS alone already runs every replica, all available."""
    if rs is None:
        return False
    replicas = desired_replicas(d)
    return (
        int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) == replicas
        and rs_replicas(rs) == replicas
        and int(rs.status.available_replicas or 0) == replicas
    )


def _rs_fraction(rs: ReplicaSet, d: Deployment) -> int:
    """This RS's share of a resize, proportional to its size at the last known max size."""
    replicas = desired_replicas(d)
    if replicas == 0:
        return -rs_replicas(rs)
    deployment_max = replicas + max_surge(d)
    annotated = int_annotation(rs, MAX_REPLICAS_ANNOTATION)
    if annotated is None:
        annotated = int(d.status.replicas or 0)
    if annotated <= 0:
        return 0
    exact = rs_replicas(rs) * deployment_max / annotated
    rounded = int(exact + 0.5) if exact >= 0 else -int(-exact + 0.5)  # half away from zero
    return rounded - rs_replicas(rs)


def proportional_scale(d: Deployment, new_rs: ReplicaSet | None, old_rss: Sequence[ReplicaSet]) -> Targets:
    """Target sizes for a scale event (spec.replicas changed, template did not).

    Returns every RS whose size (or replica annotations) should be rewritten;
    unchanged sizes are included for the single-active-RS case so its
    annotations catch up with the new replica count.
    """
    replicas = desired_replicas(d)
    single = find_active_or_latest(new_rs, old_rss)
    if single is not None:
        return {name_of(single): replicas}
    if is_saturated(d, new_rs):
        return {name_of(rs): 0 for rs in active_replica_sets(old_rss)}
    if not is_rolling(d):
        return {}
    active = active_replica_sets([*old_rss, new_rs])
    allowed = replicas + max_surge(d) if replicas > 0 else 0
    to_add = allowed - sum_spec_replicas(active)
    if to_add == 0:  # sizes already fit; the annotations must still learn the new count, or this
        return {name_of(rs): rs_replicas(rs) for rs in active}  # stays a scale event forever
    # Larger RSes first; among equals the newer one gets scaled up first / the older one down first.
    if to_add > 0:
        ordered = sorted(active, key=lambda rs: (-rs_replicas(rs), -creation_time(rs.metadata).timestamp()))
    else:
        ordered = sorted(active, key=lambda rs: (-rs_replicas(rs), creation_time(rs.metadata).timestamp()))
    sizes: Targets = {}
    added = 0
    for rs in ordered:
        share = 0
        if to_add != added and rs_replicas(rs) > 0:
            fraction = _rs_fraction(rs, d)
            allowed_left = to_add - added
            share = min(fraction, allowed_left) if to_add > 0 else max(fraction, allowed_left)
        sizes[name_of(rs)] = rs_replicas(rs) + share
        added += share
    first = name_of(ordered[0])
    sizes[first] = max(0, sizes[first] + to_add - added)
    return sizes


def recreate_scale_down(old_rss: Sequence[ReplicaSet]) -> Targets:
    """Recreate step 1: every active old RS to zero."""
    return {name_of(rs): 0 for rs in active_replica_sets(old_rss)}


def old_pods_running(old_rss: Sequence[ReplicaSet], old_pod_phases: Sequence[str | None]) -> bool:
    """Recreate step 2 waits while any old pod may still run (terminating ones included)."""
    if sum_status(old_rss, "replicas") > 0:
        return True
    return any(phase not in ("Succeeded", "Failed") for phase in old_pod_phases)


def replica_sets_to_clean(d: Deployment, old_rss: Sequence[ReplicaSet]) -> list[ReplicaSet]:
    """Old, empty RSes beyond revisionHistoryLimit, oldest revision first."""
    limit = d.spec.revision_history_limit
    if limit is None:
        limit = 10
    alive = [rs for rs in old_rss if rs.metadata.deletion_timestamp is None]
    surplus = len(alive) - limit
    if surplus <= 0:
        return []
    ordered = sorted(alive, key=lambda rs: (revision_of(rs), creation_time(rs.metadata), name_of(rs)))
    out = []
    for rs in ordered[:surplus]:
        settled = (rs.status.observed_generation or 0) >= (rs.metadata.generation or 0)
        if rs_replicas(rs) == 0 and int(rs.status.replicas or 0) == 0 and settled:
            out.append(rs)
    return out

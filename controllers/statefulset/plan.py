"""Pure StatefulSet decisions: stable identities, ordered start/stop, rolling updates.

Why pure: the ordering rules (create ordinal i only once 0..i-1 are Running
and Ready; remove the highest ordinal first, one at a time; update in reverse
ordinal order down to the partition, waiting for each to be healthy) are the
whole point of a StatefulSet, and each is a unit test here.

Identity: pod `<set>-<ordinal>` with `hostname` = its name and `subdomain` =
`spec.serviceName`, so a headless Service of that name gives it the DNS name
`<pod>.<service>.<ns>.svc.cluster.local`. A pod name is unique in its
namespace, so two pods can never hold one ordinal: a replacement is created
only after its predecessor is completely gone.

Storage: each volumeClaimTemplate `<tpl>` becomes, for ordinal i, the
PersistentVolumeClaim `<tpl>-<set>-<i>` (`claims_for`), and the pod's volume
`<tpl>` refers to it. The controller creates a missing claim before the pod and
never deletes one (Kubernetes' default `persistentVolumeClaimRetentionPolicy`,
Retain on scale-down and on deletion): a recreated `web-1`, or `web-1` after a
scale to 1 and back, mounts the same claim, and so the same volume -- which the
scheduler keeps on the node the volume lives on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controllers.deployment.templatehash import compute_template_hash
from controllers.podutil import make_controller_ref
from kubelite.api import (
    ObjectMeta,
    PersistentVolumeClaimVolumeSource,
    Pod,
    PodSpec,
    StatefulSet,
    StatefulSetStatus,
    Volume,
)
from kubelite.api.errors import Invalid
from kubelite.api.podutil import is_pod_available, is_pod_ready, is_pod_terminal
from kubelite.api.storage import PersistentVolumeClaim

STS_KIND = "StatefulSet"
STS_API_VERSION = "apps/v1"
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


# --- spec accessors (updateStrategy / ordinals are loosely typed in the model) ---------------------


def replicas(sts: StatefulSet) -> int:
    return 1 if sts.spec.replicas is None else max(sts.spec.replicas, 0)


def start_ordinal(sts: StatefulSet) -> int:
    start = (sts.spec.ordinals or {}).get("start", 0)
    return start if isinstance(start, int) and start >= 0 else 0


def is_parallel(sts: StatefulSet) -> bool:
    return sts.spec.pod_management_policy == "Parallel"


def strategy_type(sts: StatefulSet) -> str:
    kind = (sts.spec.update_strategy or {}).get("type")
    return kind if kind in ("RollingUpdate", "OnDelete") else "RollingUpdate"


def partition(sts: StatefulSet) -> int:
    rolling = (sts.spec.update_strategy or {}).get("rollingUpdate")
    value = rolling.get("partition", 0) if isinstance(rolling, dict) else 0
    return value if isinstance(value, int) and value >= 0 else 0


def revision_name(sts: StatefulSet) -> str:
    """`<set>-<template hash>`: the update revision, written on pods as controller-revision-hash."""
    return f"{sts.metadata.name}-{compute_template_hash(sts.spec.template, sts.status.collision_count)}"


def pod_revision(pod: Pod) -> str:
    return pod.metadata.labels.get(REVISION_LABEL, "")


def ordinal_of(sts: StatefulSet, pod: Pod) -> int | None:
    """The ordinal in `<set>-<n>`, or None if the pod's name is not of that shape."""
    prefix = f"{sts.metadata.name}-"
    name = pod.metadata.name or ""
    if not name.startswith(prefix):
        return None
    tail = name[len(prefix):]
    return int(tail) if tail.isdigit() and (tail == "0" or not tail.startswith("0")) else None


def claim_name(template_name: str, sts: StatefulSet, ordinal: int) -> str:
    return f"{template_name}-{sts.metadata.name}-{ordinal}"


def claim_template_names(sts: StatefulSet) -> list[str]:
    names = []
    for claim in sts.spec.volume_claim_templates:
        meta: Any = claim.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if isinstance(name, str) and name:
            names.append(name)
    return names


def claims_for(sts: StatefulSet, ordinal: int) -> list[PersistentVolumeClaim]:
    """The claims of ordinal `ordinal`, from the templates (labels: the template's plus the set's selector
    matchLabels, as Kubernetes); no owner, so they outlive pods, scale-downs and the set itself."""
    out = []
    selector = sts.spec.selector.match_labels if sts.spec.selector else {}
    for raw in sts.spec.volume_claim_templates:
        meta: Any = raw.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            continue
        try:
            template = PersistentVolumeClaim.from_dict({**raw, "apiVersion": "v1", "kind": "PersistentVolumeClaim"})
        except Invalid:
            continue  # validation rejected such a set on create; an old stored one keeps its pods claim-less
        template.metadata = ObjectMeta(
            name=claim_name(name, sts, ordinal), namespace=sts.metadata.namespace,
            labels={**template.metadata.labels, **selector}, annotations=dict(template.metadata.annotations))
        template.status = type(template.status)()
        out.append(template)
    return out


# --- pods -----------------------------------------------------------------------------------------


def _apply_identity(sts: StatefulSet, ordinal: int, spec: PodSpec, labels: dict[str, str]) -> None:
    name = f"{sts.metadata.name}-{ordinal}"
    labels[POD_NAME_LABEL] = name
    labels[POD_INDEX_LABEL] = str(ordinal)
    spec.hostname = name
    if sts.spec.service_name:
        spec.subdomain = sts.spec.service_name
    claims = claim_template_names(sts)
    spec.volumes = [v for v in spec.volumes if v.name not in claims]
    for tpl in claims:
        spec.volumes.append(Volume(name=tpl, persistent_volume_claim=PersistentVolumeClaimVolumeSource(
            claim_name=claim_name(tpl, sts, ordinal))))


def new_pod(sts: StatefulSet, ordinal: int, revision: str, source: Pod | None = None) -> Pod:
    """Pod `<set>-<ordinal>` at `revision`.

    From the set's template, or, for an ordinal held back by the partition,
    from `source` (a sibling still at the old revision): kubelite keeps no
    ControllerRevision history, so the running siblings are the record of the
    old template.
    """
    if source is not None:
        labels = dict(source.metadata.labels)
        annotations = dict(source.metadata.annotations)
        spec = source.spec.copy_deep()
        spec.node_name = None
    else:
        labels = dict(sts.spec.template.metadata.labels)
        annotations = dict(sts.spec.template.metadata.annotations)
        spec = sts.spec.template.spec.copy_deep()
    labels[REVISION_LABEL] = revision
    _apply_identity(sts, ordinal, spec, labels)
    meta = ObjectMeta(
        name=f"{sts.metadata.name}-{ordinal}",
        namespace=sts.metadata.namespace,
        labels=labels,
        annotations=annotations,
        owner_references=[make_controller_ref(sts, STS_API_VERSION, STS_KIND)],
    )
    return Pod(metadata=meta, spec=spec)


def is_terminating(pod: Pod) -> bool:
    return pod.metadata.deletion_timestamp is not None


def is_running_and_ready(pod: Pod) -> bool:
    return pod.status.phase == "Running" and is_pod_ready(pod)


def is_healthy(pod: Pod) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


# --- plan -----------------------------------------------------------------------------------------


@dataclass
class StatefulPlan:
    create: list[int] = field(default_factory=list)  # ordinals
    delete: list[Pod] = field(default_factory=list)
    waiting_for: str = ""  # why nothing more happens now (for logs/tests)


def split_pods(sts: StatefulSet, pods: Sequence[Pod]) -> tuple[dict[int, Pod], list[Pod]]:
    """(pods in the ordinal range by ordinal, condemned pods beyond it, highest ordinal first)."""
    lo, hi = start_ordinal(sts), start_ordinal(sts) + replicas(sts)
    current: dict[int, Pod] = {}
    condemned: list[tuple[int, Pod]] = []
    for pod in pods:
        ordinal = ordinal_of(sts, pod)
        if ordinal is None:
            continue
        if lo <= ordinal < hi:
            current[ordinal] = pod
        else:
            condemned.append((ordinal, pod))
    condemned.sort(key=lambda item: -item[0])
    return current, [p for _, p in condemned]


def plan(sts: StatefulSet, pods: Sequence[Pod], update_revision: str) -> StatefulPlan:
    """The next actions; OrderedReady stops at the first pod that is not Running and Ready."""
    ordered = not is_parallel(sts)
    out = StatefulPlan()
    current, condemned = split_pods(sts, pods)
    lo, hi = start_ordinal(sts), start_ordinal(sts) + replicas(sts)

    for ordinal in range(lo, hi):
        pod = current.get(ordinal)
        if pod is None:
            out.create.append(ordinal)
            if ordered:
                out.waiting_for = f"ordinal {ordinal} to be created"
                return out
            continue
        if is_pod_terminal(pod) and not is_terminating(pod):
            out.delete.append(pod)  # recreated once it is gone
            if ordered:
                out.waiting_for = f"failed pod {pod.metadata.name} to be replaced"
                return out
            continue
        if ordered and not is_healthy(pod):
            out.waiting_for = f"pod {pod.metadata.name} to be Running and Ready"
            return out

    unhealthy = [p for p in [*current.values(), *condemned] if not is_healthy(p)]
    for pod in condemned:
        if is_terminating(pod):
            if ordered:
                out.waiting_for = f"pod {pod.metadata.name} to terminate"
                return out
            continue
        if ordered and any(u is not pod for u in unhealthy):
            out.waiting_for = "unhealthy pods before scaling down"
            return out
        out.delete.append(pod)
        if ordered:
            return out
    if out.create or out.delete or strategy_type(sts) != "RollingUpdate":
        return out

    # Rolling update: highest ordinal first, down to the partition, one at a time.
    for ordinal in range(hi - 1, max(lo + partition(sts), lo) - 1, -1):
        pod = current.get(ordinal)
        if pod is None:
            return out
        if pod_revision(pod) != update_revision and not is_terminating(pod):
            out.delete.append(pod)
            out.waiting_for = f"pod {pod.metadata.name} to be updated"
            return out
        if not is_healthy(pod):
            out.waiting_for = f"updated pod {pod.metadata.name} to be Running and Ready"
            return out
    return out


def revision_for(sts: StatefulSet, ordinal: int, current_revision: str, update_revision: str) -> str:
    """Ordinals below the partition stay at the current revision (RollingUpdate only)."""
    held = strategy_type(sts) == "RollingUpdate" and ordinal < start_ordinal(sts) + partition(sts)
    return current_revision if held else update_revision


def compute_status(
    sts: StatefulSet, pods: Sequence[Pod], current_revision: str, update_revision: str, now: datetime
) -> StatefulSetStatus:
    min_ready = sts.spec.min_ready_seconds or 0
    status = StatefulSetStatus(
        observed_generation=sts.metadata.generation,
        replicas=0, ready_replicas=0, current_replicas=0, updated_replicas=0, available_replicas=0,
        current_revision=current_revision, update_revision=update_revision,
        collision_count=sts.status.collision_count,
        conditions=[c.copy_deep() for c in sts.status.conditions],
    )
    for pod in pods:
        if ordinal_of(sts, pod) is None:
            continue
        status.replicas = (status.replicas or 0) + 1
        if is_running_and_ready(pod) and not is_terminating(pod):
            status.ready_replicas = (status.ready_replicas or 0) + 1
            if is_pod_available(pod, min_ready, now):
                status.available_replicas = (status.available_replicas or 0) + 1
        if not is_terminating(pod):
            if pod_revision(pod) == current_revision:
                status.current_replicas = (status.current_replicas or 0) + 1
            if pod_revision(pod) == update_revision:
                status.updated_replicas = (status.updated_replicas or 0) + 1
    want = replicas(sts)
    if (strategy_type(sts) == "RollingUpdate" and status.updated_replicas == want
            and status.ready_replicas == want and status.replicas == want):
        status.current_revision = update_revision
        status.current_replicas = status.updated_replicas
    return status

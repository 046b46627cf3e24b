"""Pure DaemonSet decisions: which nodes should run a daemon pod, what to create,
delete or replace, and what status to show.

Why pure: "one pod per eligible node" depends on node labels, taints, node
affinity, pods that are terminating, failed or outdated, and the rolling-update
budget; each corner is a unit test here instead of a cluster scenario.

Eligibility follows Kubernetes: a node should run the pod when the pod's
nodeSelector and required node affinity match it and every NoSchedule and
NoExecute taint is tolerated; a pod already on a node may continue while its
NoExecute taints are tolerated. Daemon pods always tolerate the taints Kubernetes
adds to them (`not-ready`/`unreachable` NoExecute, pressure and
`unschedulable` NoSchedule), so they stay on failing or cordoned nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from controllers.deployment.templatehash import compute_template_hash, scaled_value
from controllers.podutil import pod_from_template
from controllers.slowstart import DAEMON_BURST_REPLICAS
from kubelite.api import (
    DaemonSet,
    DaemonSetStatus,
    Node,
    Pod,
    PodSpec,
    Taint,
    Toleration,
)
from kubelite.api.nodeaffinity import required_affinity_matches
from kubelite.api.podutil import creation_time, is_pod_available, is_pod_ready
from kubelite.api.taints import tolerates

DS_KIND = "DaemonSet"
DS_API_VERSION = "apps/v1"
REVISION_LABEL = "controller-revision-hash"

DEFAULT_TOLERATIONS: tuple[Toleration, ...] = (
    Toleration(key="node.kubernetes.io/not-ready", operator="Exists", effect="NoExecute"),
    Toleration(key="node.kubernetes.io/unreachable", operator="Exists", effect="NoExecute"),
    Toleration(key="node.kubernetes.io/disk-pressure", operator="Exists", effect="NoSchedule"),
    Toleration(key="node.kubernetes.io/memory-pressure", operator="Exists", effect="NoSchedule"),
    Toleration(key="node.kubernetes.io/pid-pressure", operator="Exists", effect="NoSchedule"),
    Toleration(key="node.kubernetes.io/unschedulable", operator="Exists", effect="NoSchedule"),
)
HOST_NETWORK_TOLERATION = Toleration(key="node.kubernetes.io/network-unavailable", operator="Exists",
                                     effect="NoSchedule")


# --- eligibility ----------------------------------------------------------------------------------


def daemon_tolerations(spec: PodSpec) -> list[Toleration]:
    """The template's tolerations plus the daemon defaults it does not already carry."""
    out = [t.copy_deep() for t in spec.tolerations]
    extra = list(DEFAULT_TOLERATIONS) + ([HOST_NETWORK_TOLERATION] if spec.host_network else [])
    for tol in extra:
        if not any(t.to_dict() == tol.to_dict() for t in out):
            out.append(tol.copy_deep())
    return out


def node_matches(spec: PodSpec, node: Node) -> bool:
    """nodeSelector and required node affinity (terms OR'ed) match the node -- the scheduler's rule."""
    return required_affinity_matches(spec, node)


@dataclass(frozen=True)
class Eligibility:
    should_run: bool  # a pod should be created here if missing
    should_continue: bool  # an existing pod may stay


def eligibility(ds: DaemonSet, node: Node | None) -> Eligibility:
    if node is None or node.metadata.deletion_timestamp is not None:
        return Eligibility(False, False)
    spec = ds.spec.template.spec
    if not node_matches(spec, node):
        return Eligibility(False, False)
    tols = daemon_tolerations(spec)

    def tolerated(taint: Taint) -> bool:
        return any(tolerates(t, taint) for t in tols)

    no_execute_ok = all(tolerated(t) for t in node.spec.taints if t.effect == "NoExecute")
    no_schedule_ok = all(tolerated(t) for t in node.spec.taints if t.effect == "NoSchedule")
    return Eligibility(no_execute_ok and no_schedule_ok, no_execute_ok)


# --- pods -----------------------------------------------------------------------------------------


def revision_hash(ds: DaemonSet) -> str:
    return compute_template_hash(ds.spec.template, ds.status.collision_count)


def new_pod(ds: DaemonSet, node_name: str, revision: str) -> Pod:
    """A daemon pod bound to `node_name` (no scheduler involved), owned by the DaemonSet."""
    pod = pod_from_template(ds, ds.spec.template, DS_API_VERSION, DS_KIND, {REVISION_LABEL: revision})
    pod.spec.node_name = node_name
    pod.spec.tolerations = daemon_tolerations(ds.spec.template.spec)
    return pod


def is_updated(pod: Pod, revision: str) -> bool:
    return pod.metadata.labels.get(REVISION_LABEL) == revision


def _oldest_first(pods: Iterable[Pod]) -> list[Pod]:
    return sorted(pods, key=lambda p: (creation_time(p.metadata), p.metadata.name or ""))


def pods_by_node(pods: Iterable[Pod]) -> dict[str, list[Pod]]:
    """The owned pods grouped by node ("" = not bound to a node)."""
    out: dict[str, list[Pod]] = {}
    for pod in pods:
        out.setdefault(pod.spec.node_name or "", []).append(pod)
    return out


# --- plan -----------------------------------------------------------------------------------------


@dataclass
class DaemonPlan:
    create: list[str] = field(default_factory=list)  # node names
    delete: list[Pod] = field(default_factory=list)
    failed_deleted: int = 0  # of `delete`, pods that had failed (they get a warning event)


def plan_nodes(ds: DaemonSet, nodes: Mapping[str, Node], by_node: Mapping[str, Sequence[Pod]]) -> DaemonPlan:
    """Create the missing daemon pods, delete surplus, failed and misplaced ones.

    A node with a terminating daemon pod gets no new pod until the old one is
    gone, so a node never runs two daemon pods at once.
    """
    plan = DaemonPlan()
    for name in sorted(set(nodes) | set(by_node)):
        pods = list(by_node.get(name, ()))
        live = [p for p in pods if p.metadata.deletion_timestamp is None]
        if not name:
            plan.delete.extend(live)  # adopted pods without a node: not ours to place
            continue
        elig = eligibility(ds, nodes.get(name))
        if elig.should_run:
            if not pods:
                plan.create.append(name)
                continue
            running = []
            for pod in live:
                if pod.status.phase == "Failed":
                    plan.delete.append(pod)
                    plan.failed_deleted += 1
                elif pod.status.phase == "Succeeded":
                    plan.delete.append(pod)
                else:
                    running.append(pod)
            if len(running) > 1:
                plan.delete.extend(_oldest_first(running)[1:])
        elif not elig.should_continue:
            plan.delete.extend(live)
    plan.create = plan.create[:DAEMON_BURST_REPLICAS]  # the rest at the next sync (the pods' events requeue)
    return plan


def max_unavailable(ds: DaemonSet, desired: int) -> int:
    strategy = ds.spec.update_strategy
    ru = strategy.rolling_update if strategy is not None else None
    value = ru.max_unavailable if ru is not None and ru.max_unavailable is not None else 1
    try:
        scaled = scaled_value(value, desired, round_up=True)
    except ValueError:
        scaled = 1
    return max(scaled, 1) if desired else 0


def is_rolling(ds: DaemonSet) -> bool:
    strategy = ds.spec.update_strategy
    return strategy is None or (strategy.type or "RollingUpdate") == "RollingUpdate"


def plan_rolling_update(
    ds: DaemonSet, nodes: Mapping[str, Node], by_node: Mapping[str, Sequence[Pod]], revision: str, now: datetime
) -> list[Pod]:
    """Old pods to delete now so they are recreated at `revision`, within maxUnavailable.

    Outdated pods that are unavailable anyway are replaced at once; available
    ones only while fewer than maxUnavailable daemon pods are unavailable.
    """
    if not is_rolling(ds):
        return []
    min_ready = ds.spec.min_ready_seconds or 0
    desired = 0
    unavailable = 0
    old_available: list[Pod] = []
    old_unavailable: list[Pod] = []
    for name in sorted(nodes):
        if not eligibility(ds, nodes[name]).should_run:
            continue
        desired += 1
        pods = list(by_node.get(name, ()))
        live = [p for p in pods if p.metadata.deletion_timestamp is None]
        if len(live) != 1 or len(pods) != 1:
            unavailable += 1  # missing, terminating or duplicated: being fixed by plan_nodes
            continue
        pod = live[0]
        available = is_pod_available(pod, min_ready, now)
        if not available:
            unavailable += 1
        if not is_updated(pod, revision):
            (old_available if available else old_unavailable).append(pod)
    budget = max_unavailable(ds, desired) - unavailable
    return old_unavailable + old_available[: max(budget, 0)]


def compute_status(
    ds: DaemonSet, nodes: Mapping[str, Node], by_node: Mapping[str, Sequence[Pod]], revision: str, now: datetime
) -> DaemonSetStatus:
    min_ready = ds.spec.min_ready_seconds or 0
    desired = current = misscheduled = ready = available = updated = 0
    for name in sorted(set(nodes) | set(by_node)):
        live = _oldest_first(p for p in by_node.get(name, ()) if p.metadata.deletion_timestamp is None)
        if not name:
            continue
        if eligibility(ds, nodes.get(name)).should_run:
            desired += 1
            if live:
                current += 1
                pod = live[-1]
                ready += is_pod_ready(pod)
                available += is_pod_available(pod, min_ready, now)
                updated += is_updated(pod, revision)
        elif live:
            misscheduled += 1
    return DaemonSetStatus(
        current_number_scheduled=current,
        number_misscheduled=misscheduled,
        desired_number_scheduled=desired,
        number_ready=ready,
        observed_generation=ds.metadata.generation,
        updated_number_scheduled=updated,
        number_available=available,
        number_unavailable=desired - available,
        collision_count=ds.status.collision_count,
        conditions=[c.copy_deep() for c in ds.status.conditions],
    )

"""Strategies of the core kinds with rules of their own: Pod, Namespace, Service, Node."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from apiserver import objects
from apiserver.podsecurity import namespace_label_causes
from apiserver.servicewrites import ServiceWriter
from apiserver.strategy.base import Deletion, StatusStrategy, Strategy
from apiserver.writes import ExpiringWriter, ObjectWriter
from kubelite.api import (
    Namespace,
    NamespaceStatus,
    Node,
    NodeStatus,
    Pod,
    PodCondition,
    PodStatus,
    Service,
    ServiceStatus,
    Toleration,
)
from kubelite.api.errors import Conflict, Invalid
from kubelite.api.meta import Resource
from kubelite.api.registry import KindInfo
from kubelite.api.timeutil import now

if TYPE_CHECKING:
    from apiserver.etcd import EtcdClient

DEFAULT_POD_GRACE_SECONDS = 30
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


class PodStrategy(StatusStrategy[Pod, PodStatus]):
    """Pods start Pending, tolerate failed nodes for a while, and are deleted gracefully once bound."""

    def __init__(self, info: KindInfo, *, not_ready_seconds: int = 30, unreachable_seconds: int = 30) -> None:
        super().__init__(info, Pod)
        self.toleration_seconds = ((NOT_READY_TAINT, not_ready_seconds), (UNREACHABLE_TAINT, unreachable_seconds))

    def status(self, obj: Pod) -> PodStatus:
        return obj.status

    def set_status(self, obj: Pod, status: PodStatus) -> None:
        obj.status = status

    def initial_status(self) -> PodStatus:
        return PodStatus(phase="Pending")

    def on_create(self, obj: Pod) -> None:
        super().on_create(obj)
        self.add_default_tolerations(obj)

    def add_default_tolerations(self, pod: Pod) -> None:
        """Kubernetes' DefaultTolerationSeconds admission: a pod that says nothing about failed nodes
        tolerates them for a while (so a short network blip evicts nothing), then is evicted."""
        spec = pod.spec
        for key, seconds in self.toleration_seconds:
            covered = any(
                (t.operator == "Exists" and not t.key) or (t.key == key and t.effect in (None, "", "NoExecute"))
                for t in spec.tolerations
            )
            if not covered:
                spec.tolerations.append(Toleration(key=key, operator="Exists", effect="NoExecute",
                                                   toleration_seconds=seconds))

    def deletion_grace(self, obj: Resource, requested: int | None) -> int:
        """Only pods bound to a node are deleted gracefully (the kubelet stops their containers
        and then deletes with grace 0); an unbound or finished pod has nothing to stop."""
        super().deletion_grace(obj, requested)
        pod = self.narrow(obj)
        if not pod.spec.node_name or pod.status.phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return requested
        grace = pod.spec.termination_grace_period_seconds
        return DEFAULT_POD_GRACE_SECONDS if grace is None else int(grace)

    def bind(self, obj: Resource, node_name: str, pod_uid: str, annotations: dict[str, str] | None = None) -> None:
        """Set spec.nodeName and the PodScheduled=True condition, and merge the Binding's annotations
        into the pod's (as Kubernetes does); Conflict if bound elsewhere."""
        pod = self.narrow(obj)
        meta = pod.metadata
        name = meta.name or ""
        if pod_uid and pod_uid != meta.uid:
            raise Conflict.for_object("pods", name, f"Precondition failed: UID in precondition: {pod_uid}, "
                                      f"UID in object meta: {meta.uid}")
        if meta.deletion_timestamp:
            raise Conflict.for_object("pods", name, f"pod {name} is being deleted, cannot be assigned to a host")
        spec = pod.spec
        if spec.node_name and spec.node_name != node_name:
            raise Conflict.for_object("pods", name, f'pod {name} is already assigned to node "{spec.node_name}"')
        if spec.node_name == node_name:
            return
        spec.node_name = node_name
        if annotations:
            meta.annotations = {**(meta.annotations or {}), **annotations}
        conditions = pod.status.conditions
        scheduled = PodCondition(type="PodScheduled", status="True", last_transition_time=now())
        for i, cond in enumerate(conditions):
            if cond.type == "PodScheduled":
                if cond.status == "True":
                    scheduled = cond
                conditions[i] = scheduled
                break
        else:
            conditions.append(scheduled)


class NamespaceStrategy(StatusStrategy[Namespace, NamespaceStatus]):
    """Namespaces start Active; a delete makes them Terminating until admission's cleanup empties them."""

    removes_when_finalized = False

    def __init__(self, info: KindInfo, is_empty: Callable[[str], Awaitable[bool]]) -> None:
        super().__init__(info, Namespace)
        self.is_empty = is_empty

    def status(self, obj: Namespace) -> NamespaceStatus:
        return obj.status

    def set_status(self, obj: Namespace, status: NamespaceStatus) -> None:
        obj.status = status

    def initial_status(self) -> NamespaceStatus:
        return NamespaceStatus(phase="Active")

    def validate(self, obj: Resource, old: Resource | None = None) -> None:
        """Also refuse pod-security labels with an unknown level or version (they would fail closed)."""
        super().validate(obj, old)
        causes = namespace_label_causes(obj.metadata.labels)
        if causes:
            raise Invalid.for_object(self.info.kind, obj.metadata.name, causes)

    async def mark_for_deletion(self, obj: Resource, requested: int | None, policy: str) -> Deletion:
        ns = self.narrow(obj)
        if not ns.metadata.finalizers and await self.is_empty(ns.metadata.name or ""):
            return Deletion.REMOVE
        if ns.metadata.deletion_timestamp:
            return Deletion.UNCHANGED
        objects.mark_deleting(ns, 0, "")
        ns.status.phase = "Terminating"
        return Deletion.WRITE


class ServiceStrategy(StatusStrategy[Service, ServiceStatus]):
    """Services own a ClusterIP and NodePorts, claimed in the same transaction as the object."""

    def __init__(self, info: KindInfo) -> None:
        super().__init__(info, Service)

    def status(self, obj: Service) -> ServiceStatus:
        return obj.status

    def set_status(self, obj: Service, status: ServiceStatus) -> None:
        obj.status = status

    def initial_status(self) -> ServiceStatus:
        return ServiceStatus()

    def writer(self, etcd: EtcdClient) -> ObjectWriter:
        return ServiceWriter(etcd)


DEFAULT_EVENT_TTL_SECONDS = 3600
"""How long an Event is kept after its last write: the Kubernetes apiserver's `--event-ttl` (1h)."""


class EventStrategy(Strategy[Resource]):
    """Events expire `ttl` seconds after their last write, as in Kubernetes: they record what
    happened, and a busy cluster writes several per pod, so kept forever they would grow the
    store (and every list of them) without bound."""

    def __init__(self, info: KindInfo, ttl: int = DEFAULT_EVENT_TTL_SECONDS) -> None:
        super().__init__(info, info.model)
        self.ttl = ttl

    def writer(self, etcd: EtcdClient) -> ObjectWriter:
        return ExpiringWriter(etcd, self.ttl)


class NodeStrategy(StatusStrategy[Node, NodeStatus]):
    """A kubelet registers its Node with the status it observed, so create keeps it."""

    reset_status_on_create = False

    def __init__(self, info: KindInfo) -> None:
        super().__init__(info, Node)

    def status(self, obj: Node) -> NodeStatus:
        return obj.status

    def set_status(self, obj: Node, status: NodeStatus) -> None:
        obj.status = status

    def initial_status(self) -> NodeStatus:
        return NodeStatus()

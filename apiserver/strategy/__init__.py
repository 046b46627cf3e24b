"""Per-kind behaviour of the apiserver's write path, one strategy object per kind.

`Strategies` is the table the service consults: `strategies.of(info)` for any
kind, `strategies.pods` where only a pod makes sense (Bind). Kinds without
rules of their own get the plain `Strategy`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from apiserver.strategy.autoscaling import HorizontalPodAutoscalerStrategy
from apiserver.strategy.base import Deletion, StatusStrategy, Strategy, plain
from apiserver.strategy.certificates import CertificateSigningRequestStrategy
from apiserver.strategy.core import (
    DEFAULT_EVENT_TTL_SECONDS,
    DEFAULT_POD_GRACE_SECONDS,
    EventStrategy,
    NamespaceStrategy,
    NodeStrategy,
    PodStrategy,
    ServiceStrategy,
)
from apiserver.strategy.networking import IngressStrategy
from apiserver.strategy.policy import ResourceQuotaStrategy
from apiserver.strategy.rbac import RbacStrategy
from apiserver.strategy.storage import (
    PersistentVolumeClaimStrategy,
    PersistentVolumeStrategy,
    PodDisruptionBudgetStrategy,
)
from apiserver.strategy.workloads import (
    CronJobStrategy,
    DaemonSetStrategy,
    DeploymentStrategy,
    JobStrategy,
    ReplicaSetStrategy,
    StatefulSetStrategy,
)
from kubelite.api import (
    CronJob,
    DaemonSet,
    Deployment,
    Job,
    ReplicaSet,
    StatefulSet,
    registry,
)
from kubelite.api.autoscaling import HorizontalPodAutoscaler
from kubelite.api.ingress import Ingress
from kubelite.api.namespacepolicy import ResourceQuota
from kubelite.api.policy import PodDisruptionBudget
from kubelite.api.registry import KindInfo
from kubelite.api.storage import PersistentVolume, PersistentVolumeClaim

__all__ = [
    "DEFAULT_EVENT_TTL_SECONDS", "DEFAULT_POD_GRACE_SECONDS", "Deletion", "NamespaceStrategy", "PodStrategy", "ServiceStrategy",
    "StatusStrategy", "Strategies", "Strategy",
]


async def _never_empty(name: str) -> bool:
    return False


class Strategies:
    """The strategy of every registered kind.

    `namespace_empty` answers whether a namespace holds no objects (a store
    read, so admission provides it); the toleration seconds are the
    apiserver's DefaultTolerationSeconds settings.
    """

    def __init__(
        self,
        *,
        namespace_empty: Callable[[str], Awaitable[bool]] = _never_empty,
        not_ready_toleration_seconds: int = 30,
        unreachable_toleration_seconds: int = 30,
        event_ttl: int = DEFAULT_EVENT_TTL_SECONDS,
    ) -> None:
        from apiserver.crd.strategy import CrdStrategy  # late: it builds on this package's base

        lookup = registry.lookup
        self.pods = PodStrategy(lookup("pods"), not_ready_seconds=not_ready_toleration_seconds,
                                unreachable_seconds=unreachable_toleration_seconds)
        special: list[Strategy[Any]] = [
            self.pods,
            NamespaceStrategy(lookup("namespaces"), namespace_empty),
            ServiceStrategy(lookup("services")),
            NodeStrategy(lookup("nodes")),
            EventStrategy(lookup("events"), event_ttl),
            DeploymentStrategy(lookup("deployments"), Deployment),
            ReplicaSetStrategy(lookup("replicasets"), ReplicaSet),
            DaemonSetStrategy(lookup("daemonsets"), DaemonSet),
            StatefulSetStrategy(lookup("statefulsets"), StatefulSet),
            JobStrategy(lookup("jobs"), Job),
            CronJobStrategy(lookup("cronjobs"), CronJob),
            ResourceQuotaStrategy(lookup("resourcequotas"), ResourceQuota),
            PersistentVolumeStrategy(lookup("persistentvolumes"), PersistentVolume),
            PersistentVolumeClaimStrategy(lookup("persistentvolumeclaims"), PersistentVolumeClaim),
            PodDisruptionBudgetStrategy(lookup("poddisruptionbudgets"), PodDisruptionBudget),
            IngressStrategy(lookup("ingresses"), Ingress),
            HorizontalPodAutoscalerStrategy(lookup("horizontalpodautoscalers"), HorizontalPodAutoscaler),
            *(RbacStrategy(lookup(r)) for r in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")),
            CertificateSigningRequestStrategy(lookup("certificatesigningrequests")),
            CrdStrategy(lookup("customresourcedefinitions")),
        ]
        self._by_resource: dict[str, Strategy[Any]] = {s.info.storage_name: s for s in special}
        for info in registry.builtin_kinds():  # custom kinds are added with their strategy (`add`)
            self._by_resource.setdefault(info.storage_name, plain(info))

    def of(self, info: KindInfo) -> Strategy[Any]:
        return self._by_resource[info.storage_name]

    def add(self, strategy: Strategy[Any]) -> None:
        """The strategy of a kind registered at run time (a custom kind), replacing an older one."""
        self._by_resource[strategy.info.storage_name] = strategy

    def remove(self, info: KindInfo) -> None:
        self._by_resource.pop(info.storage_name, None)

"""Per-kind behaviour of the apiserver's write path, one strategy object per kind.

`Strategies` is the table the service consults: `strategies.of(info)` for any
kind, `strategies.pods` where only a pod makes sense (Bind). Kinds without
rules of their own get the plain `Strategy`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from apiserver.strategy.base import Deletion, StatusStrategy, Strategy, plain
from apiserver.strategy.core import (
    DEFAULT_POD_GRACE_SECONDS,
    NamespaceStrategy,
    NodeStrategy,
    PodStrategy,
    ServiceStrategy,
)
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
from kubelite.api.policy import PodDisruptionBudget
from kubelite.api.registry import KindInfo
from kubelite.api.storage import PersistentVolume, PersistentVolumeClaim

__all__ = [
    "DEFAULT_POD_GRACE_SECONDS", "Deletion", "NamespaceStrategy", "PodStrategy", "ServiceStrategy",
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
    ) -> None:
        lookup = registry.lookup
        self.pods = PodStrategy(lookup("pods"), not_ready_seconds=not_ready_toleration_seconds,
                                unreachable_seconds=unreachable_toleration_seconds)
        special: list[Strategy[Any]] = [
            self.pods,
            NamespaceStrategy(lookup("namespaces"), namespace_empty),
            ServiceStrategy(lookup("services")),
            NodeStrategy(lookup("nodes")),
            DeploymentStrategy(lookup("deployments"), Deployment),
            ReplicaSetStrategy(lookup("replicasets"), ReplicaSet),
            DaemonSetStrategy(lookup("daemonsets"), DaemonSet),
            StatefulSetStrategy(lookup("statefulsets"), StatefulSet),
            JobStrategy(lookup("jobs"), Job),
            CronJobStrategy(lookup("cronjobs"), CronJob),
            PersistentVolumeStrategy(lookup("persistentvolumes"), PersistentVolume),
            PersistentVolumeClaimStrategy(lookup("persistentvolumeclaims"), PersistentVolumeClaim),
            PodDisruptionBudgetStrategy(lookup("poddisruptionbudgets"), PodDisruptionBudget),
            *(RbacStrategy(lookup(r)) for r in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")),
        ]
        self._by_resource: dict[str, Strategy[Any]] = {s.info.resource: s for s in special}
        for info in registry.all_kinds():
            self._by_resource.setdefault(info.resource, plain(info))

    def of(self, info: KindInfo) -> Strategy[Any]:
        return self._by_resource[info.resource]

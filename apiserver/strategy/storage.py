"""Strategies of the storage kinds and of PodDisruptionBudget.

Why the default StorageClass is filled in here (Kubernetes' DefaultStorageClass
admission plugin): a claim written without `storageClassName` -- every
StatefulSet template in the wild -- must get the cluster's default class at
create time, so the binder and provisioner see one explicit class and `kubectl
get pvc` shows it. `default_class` reads the apiserver's StorageClass watch
cache (no extra store round trip per create). A claim that explicitly says
`storageClassName: ""` asks for no class and is left alone, as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from apiserver.storage import StoredObject
from apiserver.strategy.base import StatusStrategy
from kubelite.api.policy import PodDisruptionBudget, PodDisruptionBudgetStatus
from kubelite.api.registry import KindInfo
from kubelite.api.storage import (
    DEFAULT_CLASS_ANNOTATION,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimStatus,
    PersistentVolumeStatus,
)


def _no_default() -> str | None:
    return None


class PersistentVolumeStrategy(StatusStrategy[PersistentVolume, PersistentVolumeStatus]):
    def status(self, obj: PersistentVolume) -> PersistentVolumeStatus:
        return obj.status

    def set_status(self, obj: PersistentVolume, status: PersistentVolumeStatus) -> None:
        obj.status = status

    def initial_status(self) -> PersistentVolumeStatus:
        return PersistentVolumeStatus(phase="Pending")


class PersistentVolumeClaimStrategy(StatusStrategy[PersistentVolumeClaim, PersistentVolumeClaimStatus]):
    def __init__(self, info: KindInfo, default_class: Callable[[], str | None] = _no_default) -> None:
        super().__init__(info, PersistentVolumeClaim)
        self._default_class = default_class

    def status(self, obj: PersistentVolumeClaim) -> PersistentVolumeClaimStatus:
        return obj.status

    def set_status(self, obj: PersistentVolumeClaim, status: PersistentVolumeClaimStatus) -> None:
        obj.status = status

    def initial_status(self) -> PersistentVolumeClaimStatus:
        return PersistentVolumeClaimStatus(phase="Pending")

    def on_create(self, obj: PersistentVolumeClaim) -> None:
        super().on_create(obj)
        if obj.spec.storage_class_name is None:
            obj.spec.storage_class_name = self._default_class()


class PodDisruptionBudgetStrategy(StatusStrategy[PodDisruptionBudget, PodDisruptionBudgetStatus]):
    def status(self, obj: PodDisruptionBudget) -> PodDisruptionBudgetStatus:
        return obj.status

    def set_status(self, obj: PodDisruptionBudget, status: PodDisruptionBudgetStatus) -> None:
        obj.status = status

    def initial_status(self) -> PodDisruptionBudgetStatus:
        return PodDisruptionBudgetStatus()


def default_class_name(classes: Iterable[StoredObject]) -> str | None:
    """The default StorageClass among `classes` (the newest if several are marked, as Kubernetes)."""
    best: tuple[str, str] | None = None
    for c in classes:
        meta = c.obj.get("metadata") or {}
        marked = str((meta.get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true"
        if marked and not meta.get("deletionTimestamp"):
            candidate = (str(meta.get("creationTimestamp") or ""), c.name)
            best = candidate if best is None or candidate > best else best
    return best[1] if best else None

"""Strategies of the storage kinds and of PodDisruptionBudget (their status belongs to controllers).

`default_class_name` is the rule of DefaultStorageClass admission (run by the
service on create): a claim written without `storageClassName` -- every
StatefulSet template in the wild -- gets the cluster's default class, so the
binder and provisioner see one explicit class and `kubectl get pvc` shows it.
A claim that says `storageClassName: ""` asks for no class and is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from apiserver.storage import StoredObject
from apiserver.strategy.base import StatusStrategy
from kubelite.api.policy import PodDisruptionBudget, PodDisruptionBudgetStatus
from kubelite.api.storage import (
    DEFAULT_CLASS_ANNOTATION,
    PVC_PROTECTION_FINALIZER,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimStatus,
    PersistentVolumeStatus,
)


class PersistentVolumeStrategy(StatusStrategy[PersistentVolume, PersistentVolumeStatus]):
    def status(self, obj: PersistentVolume) -> PersistentVolumeStatus:
        return obj.status

    def set_status(self, obj: PersistentVolume, status: PersistentVolumeStatus) -> None:
        obj.status = status

    def initial_status(self) -> PersistentVolumeStatus:
        return PersistentVolumeStatus(phase="Pending")


class PersistentVolumeClaimStrategy(StatusStrategy[PersistentVolumeClaim, PersistentVolumeClaimStatus]):
    """New claims carry `kubernetes.io/pvc-protection` (Kubernetes' StorageObjectInUseProtection): deleting
    a claim a pod still mounts leaves it Terminating until the pod is gone, so its volume is not reclaimed
    under the running pod."""

    def on_create(self, obj: PersistentVolumeClaim) -> None:
        super().on_create(obj)
        if PVC_PROTECTION_FINALIZER not in obj.metadata.finalizers:
            obj.metadata.finalizers.append(PVC_PROTECTION_FINALIZER)

    def status(self, obj: PersistentVolumeClaim) -> PersistentVolumeClaimStatus:
        return obj.status

    def set_status(self, obj: PersistentVolumeClaim, status: PersistentVolumeClaimStatus) -> None:
        obj.status = status

    def initial_status(self) -> PersistentVolumeClaimStatus:
        return PersistentVolumeClaimStatus(phase="Pending")


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

"""Validation of PersistentVolume, PersistentVolumeClaim, StorageClass and PodDisruptionBudget.

Why strict about sources and modes: kubelite can only give a claim a
directory on one node (hostPath or local volumes). A PV of another source (nfs,
csi, iscsi...) would bind and then never mount, so it is refused here with
the field named, instead of being accepted and silently broken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelite.api import quantity
from kubelite.api.errors import Invalid, StatusCause
from kubelite.api.fieldchecks import int_or_percent, validate_selector
from kubelite.api.meta import Resource
from kubelite.api.policy import PodDisruptionBudget
from kubelite.api.storage import (
    ACCESS_MODES,
    BINDING_MODES,
    RECLAIM_POLICIES,
    VOLUME_MODES,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
)

Causes = list[StatusCause]
SUPPORTED_PV_SOURCES = ("hostPath", "local")


def _access_modes(modes: list[str], path: str, out: Causes) -> None:
    if not modes:
        out.append(StatusCause.required(path, "at least 1 access mode is required"))
    for i, mode in enumerate(modes):
        if mode not in ACCESS_MODES:
            out.append(StatusCause.not_supported(f"{path}[{i}]", mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        out.append(StatusCause.forbidden(path, "may not use ReadWriteOncePod with other access modes"))


def _storage(resources: dict[str, str], path: str, out: Causes) -> None:
    value = resources.get("storage")
    if value is None:
        out.append(StatusCause.required(f"{path}[storage]"))
        return
    if not quantity.is_valid(value):
        out.append(StatusCause.invalid(f"{path}[storage]", value, "must be a quantity like 1Gi or 500Mi"))
    elif quantity.value(value) <= 0:
        out.append(StatusCause.invalid(f"{path}[storage]", value, "must be greater than zero"))
    for key in resources:
        if key != "storage":
            out.append(StatusCause.not_supported(f"{path}[{key}]", key, ("storage",)))


def _volume_mode(mode: str | None, path: str, out: Causes) -> None:
    if mode is not None and mode not in VOLUME_MODES:
        out.append(StatusCause.not_supported(path, mode, VOLUME_MODES))


def _persistent_volume(pv: PersistentVolume, out: Causes) -> None:
    spec = pv.spec
    _access_modes(spec.access_modes, "spec.accessModes", out)
    _storage(spec.capacity, "spec.capacity", out)
    _volume_mode(spec.volume_mode, "spec.volumeMode", out)
    policy = spec.persistent_volume_reclaim_policy
    if policy is not None and policy not in RECLAIM_POLICIES:
        out.append(StatusCause.not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
    sources = spec.source_names()
    if not sources:
        out.append(StatusCause.required("spec", "must specify a volume type (kubelite supports hostPath and local)"))
    elif len(sources) > 1:
        out.append(StatusCause.forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type"))
    elif sources[0] not in SUPPORTED_PV_SOURCES:
        out.append(StatusCause.not_supported(f"spec.{sources[0]}", sources[0], SUPPORTED_PV_SOURCES))
    path = spec.host_path.path if spec.host_path else spec.local.path if spec.local else None
    if path is not None and not path.startswith("/"):
        field = "spec.hostPath.path" if spec.host_path else "spec.local.path"
        out.append(StatusCause.invalid(field, path, "must be an absolute path"))
    if spec.local is not None and (spec.node_affinity is None or spec.node_affinity.required is None):
        out.append(StatusCause.required("spec.nodeAffinity", "Local volume requires node affinity"))


def _claim(pvc: PersistentVolumeClaim, out: Causes) -> None:
    spec = pvc.spec
    _access_modes(spec.access_modes, "spec.accessModes", out)
    _storage(spec.resources.requests, "spec.resources.requests", out)
    _volume_mode(spec.volume_mode, "spec.volumeMode", out)
    validate_selector(spec.selector, "spec.selector", out, required=False)
    for name in ("data_source", "data_source_ref"):
        if getattr(spec, name) is not None:
            field = "spec.dataSource" if name == "data_source" else "spec.dataSourceRef"
            out.append(StatusCause.forbidden(field, "kubelite cannot populate a volume from a data source"))


def validate_claim_template(raw: dict[str, Any], path: str, out: Causes) -> None:
    """A StatefulSet's volumeClaimTemplate: a PersistentVolumeClaim without name rules (the set names it)."""
    try:
        pvc = PersistentVolumeClaim.from_dict({**raw, "apiVersion": "v1", "kind": "PersistentVolumeClaim"})
    except Invalid as exc:
        out.extend(StatusCause(f"{path}.{c.field}" if c.field else path, c.message, c.reason) for c in exc.causes)
        return
    inner: Causes = []
    _claim(pvc, inner)
    out.extend(StatusCause(f"{path}.{c.field}", c.message, c.reason) for c in inner)


def _storage_class(sc: StorageClass, out: Causes) -> None:
    if not sc.provisioner:
        out.append(StatusCause.required("provisioner"))
    if sc.reclaim_policy is not None and sc.reclaim_policy not in RECLAIM_POLICIES:
        out.append(StatusCause.not_supported("reclaimPolicy", sc.reclaim_policy, RECLAIM_POLICIES))
    if sc.volume_binding_mode is not None and sc.volume_binding_mode not in BINDING_MODES:
        out.append(StatusCause.not_supported("volumeBindingMode", sc.volume_binding_mode, BINDING_MODES))


def _pdb(pdb: PodDisruptionBudget, out: Causes) -> None:
    spec = pdb.spec
    if spec.min_available is not None and spec.max_unavailable is not None:
        out.append(StatusCause.invalid("spec", pdb.spec.to_dict(),
                                       "minAvailable and maxUnavailable cannot be both set"))
    int_or_percent(spec.min_available, "spec.minAvailable", out)
    int_or_percent(spec.max_unavailable, "spec.maxUnavailable", out)
    validate_selector(spec.selector, "spec.selector", out, required=False)
    policy = spec.unhealthy_pod_eviction_policy
    if policy is not None and policy not in ("IfHealthyBudget", "AlwaysAllow"):
        out.append(StatusCause.not_supported("spec.unhealthyPodEvictionPolicy", policy,
                                             ("IfHealthyBudget", "AlwaysAllow")))


def validate_storage_update(old: Resource, new: Resource, out: Causes) -> None:
    """Claims are immutable once created except for a larger request (not offered) and volumeName binding."""
    if isinstance(old, PersistentVolumeClaim) and isinstance(new, PersistentVolumeClaim):
        before, after = old.spec.model_copy(deep=True), new.spec.model_copy(deep=True)
        if not before.volume_name:
            before.volume_name = after.volume_name
        if before.to_dict() != after.to_dict():
            out.append(StatusCause.forbidden("spec", "spec is immutable after creation except "
                                                     "resources.requests and volumeAttributesClassName "
                                                     "for bound claims"))
    if isinstance(old, StorageClass) and isinstance(new, StorageClass):
        for field in ("provisioner", "parameters", "reclaim_policy", "volume_binding_mode"):
            if getattr(old, field) != getattr(new, field):
                out.append(StatusCause.forbidden(type(new).model_fields[field].alias or field,
                                                 "updates to this field are forbidden"))


STORAGE_VALIDATORS: dict[type[Resource], Callable[[Any, Causes], None]] = {
    PersistentVolume: _persistent_volume, PersistentVolumeClaim: _claim, StorageClass: _storage_class,
    PodDisruptionBudget: _pdb,
}

"""Storage kinds: PersistentVolume, PersistentVolumeClaim (core/v1) and StorageClass (storage.k8s.io/v1).

Why Kubernetes' shapes exactly: StatefulSet manifests, Helm charts and `kubectl
get pv,pvc,sc` written for Kubernetes or k3s must work unchanged. kubelite can
honour only node-local volumes (hostPath and local); other PV sources are
modelled loosely so a manifest decodes, and validation rejects them by name.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kubelite.api.base import KubeModel, Quantity
from kubelite.api.core import Node
from kubelite.api.meta import LabelSelector, ObjectReference, Resource
from kubelite.api.nodeaffinity import term_matches
from kubelite.api.pods import HostPathVolumeSource, NodeSelector

STORAGE_GROUP_VERSION = "storage.k8s.io/v1"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node"
PROVISIONER_ANNOTATION = "volume.kubernetes.io/storage-provisioner"
PROVISIONED_BY_ANNOTATION = "pv.kubernetes.io/provisioned-by"
BOUND_BY_CONTROLLER_ANNOTATION = "pv.kubernetes.io/bind-completed"

ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
RECLAIM_POLICIES = ("Retain", "Delete")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
VOLUME_MODES = ("Filesystem",)


class LocalVolumeSource(KubeModel):
    path: str
    fs_type: str | None = None


class VolumeNodeAffinity(KubeModel):
    required: NodeSelector | None = None


class PersistentVolumeSpec(KubeModel):
    capacity: dict[str, Quantity] = Field(default_factory=dict)
    access_modes: list[str] = Field(default_factory=list)
    claim_ref: ObjectReference | None = None
    persistent_volume_reclaim_policy: str | None = None
    storage_class_name: str | None = None
    mount_options: list[str] = Field(default_factory=list)
    volume_mode: str | None = None
    node_affinity: VolumeNodeAffinity | None = None
    volume_attributes_class_name: str | None = None
    host_path: HostPathVolumeSource | None = None
    local: LocalVolumeSource | None = None
    nfs: dict[str, Any] | None = None
    csi: dict[str, Any] | None = None
    iscsi: dict[str, Any] | None = None
    fc: dict[str, Any] | None = None

    def source_names(self) -> list[str]:
        """JSON names of the volume sources set (exactly one must be)."""
        names = ("host_path", "local", "nfs", "csi", "iscsi", "fc")
        fields = type(self).model_fields
        return [fields[n].alias or n for n in names if getattr(self, n) is not None]


class PersistentVolumeStatus(KubeModel):
    phase: str | None = None  # Pending, Available, Bound, Released, Failed
    message: str | None = None
    reason: str | None = None
    last_phase_transition_time: str | None = None


class PersistentVolume(Resource):
    api_version: str = "v1"
    kind: str = "PersistentVolume"
    spec: PersistentVolumeSpec = Field(default_factory=PersistentVolumeSpec)
    status: PersistentVolumeStatus = Field(default_factory=PersistentVolumeStatus)


class VolumeResourceRequirements(KubeModel):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class PersistentVolumeClaimSpec(KubeModel):
    access_modes: list[str] = Field(default_factory=list)
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements = Field(default_factory=VolumeResourceRequirements)
    volume_name: str | None = None
    storage_class_name: str | None = None
    volume_mode: str | None = None
    data_source: dict[str, Any] | None = None
    data_source_ref: dict[str, Any] | None = None
    volume_attributes_class_name: str | None = None


class PersistentVolumeClaimCondition(KubeModel):
    type: str
    status: str
    last_probe_time: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class PersistentVolumeClaimStatus(KubeModel):
    phase: str | None = None  # Pending, Bound, Lost
    access_modes: list[str] = Field(default_factory=list)
    capacity: dict[str, Quantity] = Field(default_factory=dict)
    conditions: list[PersistentVolumeClaimCondition] = Field(default_factory=list)


class PersistentVolumeClaim(Resource):
    api_version: str = "v1"
    kind: str = "PersistentVolumeClaim"
    spec: PersistentVolumeClaimSpec = Field(default_factory=PersistentVolumeClaimSpec)
    status: PersistentVolumeClaimStatus = Field(default_factory=PersistentVolumeClaimStatus)


class StorageClass(Resource):
    api_version: str = STORAGE_GROUP_VERSION
    kind: str = "StorageClass"
    provisioner: str = ""
    parameters: dict[str, str] = Field(default_factory=dict)
    reclaim_policy: str | None = None
    mount_options: list[str] = Field(default_factory=list)
    allow_volume_expansion: bool | None = None
    volume_binding_mode: str | None = None
    allowed_topologies: list[dict[str, Any]] = Field(default_factory=list)


def is_default_class(sc: StorageClass) -> bool:
    return sc.metadata.annotations.get(DEFAULT_CLASS_ANNOTATION, "").lower() == "true"


def claim_storage_class(pvc: PersistentVolumeClaim) -> str:
    """The class a claim asks for ("" = no class: only PVs without a class)."""
    return pvc.spec.storage_class_name or ""


def pv_storage_class(pv: PersistentVolume) -> str:
    return pv.spec.storage_class_name or ""


PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
"""Keeps a deleted claim (Terminating) while a pod still uses it; the PV controller releases it."""

LOCAL_PATH_PROVISIONER = "kubelite.io/local-path"
LOCAL_PATH_CLASS = "local-path"
LOCAL_PATH_NODE_ANNOTATION = "kubelite.io/local-path-node"
"""On a PV the local-path provisioner made: the node whose kubelet owns its directory."""
LOCAL_PATH_FINALIZER = "kubelite.io/local-path-cleanup"
"""Held on a provisioned PV until its node's kubelet has removed the directory."""
NODE_DATA_DIR_ANNOTATION = "kubelite.io/data-dir"
"""On a Node: the kubelet's --data-dir, under which local-path volumes live."""
LOCAL_PATH_SUBDIR = "volumes/local-path"


def local_path_dir(node_data_dir: str, pv_name: str) -> str:
    """`<node data dir>/volumes/local-path/<pv>`: where a provisioned volume's data lives."""
    return f"{node_data_dir.rstrip('/')}/{LOCAL_PATH_SUBDIR}/{pv_name}"


def pv_path(pv: PersistentVolume) -> str | None:
    if pv.spec.host_path is not None:
        return pv.spec.host_path.path
    if pv.spec.local is not None:
        return pv.spec.local.path
    return None


def storage_request(pvc: PersistentVolumeClaim) -> str:
    return pvc.spec.resources.requests.get("storage", "0")


def pv_capacity(pv: PersistentVolume) -> str:
    return pv.spec.capacity.get("storage", "0")


def node_affinity_allows(pv: PersistentVolume, node: Node | None) -> bool:
    """A PV without node affinity is usable everywhere; with one, only on matching nodes."""
    required = pv.spec.node_affinity.required if pv.spec.node_affinity else None
    if required is None:
        return True
    if node is None:
        return False
    return any(term_matches(t, node) for t in required.node_selector_terms)

"""Pure decisions of the PersistentVolume controller: which volume a claim gets, what a freed volume becomes.

Why pure: the matching rules (same class, selector, every requested access
mode offered, enough capacity, the smallest volume that fits, node affinity
agreeing with the node the scheduler picked) and the reclaim rules (Delete or
Retain once the claim is gone) are what users rely on, and each is a unit test
here. The controller only reads informers, calls `plan_claim`/`plan_volume`
and performs the answer.

Dynamic provisioning is a decision too: a claim of a class whose provisioner
is kubelite's local-path provisioner gets a new PV once the scheduler has
named its node (`volume.kubernetes.io/selected-node`) -- WaitForFirstConsumer
-- and never before, because the directory must be made on that node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kubelite.api import quantity
from kubelite.api.core import Node
from kubelite.api.meta import ObjectMeta, ObjectReference
from kubelite.api.pods import HostPathVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm
from kubelite.api.selectors import label_matcher
from kubelite.api.storage import (
    LOCAL_PATH_FINALIZER,
    LOCAL_PATH_NODE_ANNOTATION,
    LOCAL_PATH_PROVISIONER,
    NODE_DATA_DIR_ANNOTATION,
    PROVISIONED_BY_ANNOTATION,
    SELECTED_NODE_ANNOTATION,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeSpec,
    StorageClass,
    VolumeNodeAffinity,
    claim_storage_class,
    local_path_dir,
    node_affinity_allows,
    pv_capacity,
    pv_storage_class,
    storage_request,
)

LOCAL_PATH_MODES = ("ReadWriteOnce", "ReadWriteOncePod")
HOSTNAME_LABEL = "kubernetes.io/hostname"


@dataclass(frozen=True)
class Bind:
    """Bind the claim to this (Available, or pre-bound to it) volume."""

    volume: PersistentVolume


@dataclass(frozen=True)
class Provision:
    """Create this volume for the claim (it is then bound like any other)."""

    volume: PersistentVolume


@dataclass(frozen=True)
class Wait:
    """Nothing to do yet; `reason`/`message` become a Normal or Warning event when set."""

    reason: str = ""
    message: str = ""
    warning: bool = False


@dataclass(frozen=True)
class Complete:
    """The claim is bound to `volume`: only the claim's status may need writing."""

    volume: PersistentVolume


ClaimAction = Bind | Provision | Wait | Complete


def claim_ref(pvc: PersistentVolumeClaim) -> ObjectReference:
    meta = pvc.metadata
    return ObjectReference(kind="PersistentVolumeClaim", namespace=meta.namespace, name=meta.name, uid=meta.uid,
                           api_version="v1")


def refers_to(pv: PersistentVolume, pvc: PersistentVolumeClaim) -> bool:
    """The PV's claimRef names this claim (and, when it records one, this claim's uid)."""
    ref = pv.spec.claim_ref
    if ref is None or ref.name != pvc.metadata.name or (ref.namespace or "default") != pvc.metadata.namespace:
        return False
    return not ref.uid or ref.uid == pvc.metadata.uid


def _bytes(q: str) -> int:
    return quantity.value(q)


def volume_fits(pv: PersistentVolume, pvc: PersistentVolumeClaim, node: Node | None) -> bool:
    """Class, access modes, size, selector and (for a scheduled claim) node affinity all agree."""
    if pv_storage_class(pv) != claim_storage_class(pvc):
        return False
    if not set(pvc.spec.access_modes) <= set(pv.spec.access_modes):
        return False
    if _bytes(pv_capacity(pv)) < _bytes(storage_request(pvc)):
        return False
    if pvc.spec.selector is not None and not label_matcher(pvc.spec.selector).matches(pv.metadata.labels):
        return False
    selected = pvc.metadata.annotations.get(SELECTED_NODE_ANNOTATION)
    return not selected or node_affinity_allows(pv, node)


def find_volume(pvc: PersistentVolumeClaim, volumes: Iterable[PersistentVolume],
                node: Node | None = None) -> PersistentVolume | None:
    """The volume to bind: one already reserved for this claim, else the smallest Available fit."""
    fits: list[PersistentVolume] = []
    for pv in volumes:
        if pv.metadata.deletion_timestamp is not None:
            continue
        if pv.spec.claim_ref is not None:
            if refers_to(pv, pvc) and volume_fits(pv, pvc, node):
                return pv
            continue
        if pv.status.phase in (None, "Pending", "Available") and volume_fits(pv, pvc, node):
            fits.append(pv)
    fits.sort(key=lambda pv: (_bytes(pv_capacity(pv)), pv.metadata.name or ""))
    return fits[0] if fits else None


def provisioned_volume(pvc: PersistentVolumeClaim, sc: StorageClass, node: Node) -> PersistentVolume:
    """The PV the local-path provisioner makes for `pvc` on `node` (pre-bound to the claim)."""
    name = f"pvc-{pvc.metadata.uid}"
    data_dir = node.metadata.annotations.get(NODE_DATA_DIR_ANNOTATION, "")
    term = NodeSelectorTerm(match_expressions=[NodeSelectorRequirement(
        key=HOSTNAME_LABEL, operator="In", values=[node.metadata.labels.get(HOSTNAME_LABEL, node.metadata.name or "")],
    )])
    return PersistentVolume(
        metadata=ObjectMeta(
            name=name,
            annotations={PROVISIONED_BY_ANNOTATION: sc.provisioner,
                         LOCAL_PATH_NODE_ANNOTATION: node.metadata.name or ""},
            finalizers=[LOCAL_PATH_FINALIZER],
        ),
        spec=PersistentVolumeSpec(
            capacity={"storage": storage_request(pvc)},
            access_modes=list(pvc.spec.access_modes),
            claim_ref=claim_ref(pvc),
            persistent_volume_reclaim_policy=sc.reclaim_policy or "Delete",
            storage_class_name=sc.metadata.name,
            volume_mode="Filesystem",
            host_path=HostPathVolumeSource(path=local_path_dir(data_dir, name), type="DirectoryOrCreate"),
            node_affinity=VolumeNodeAffinity(required=NodeSelector(node_selector_terms=[term])),
        ),
    )


def plan_claim(pvc: PersistentVolumeClaim, volumes: Iterable[PersistentVolume],
               classes: Mapping[str, StorageClass], nodes: Mapping[str, Node]) -> ClaimAction:
    """What to do for one claim now."""
    volumes = list(volumes)
    if pvc.spec.volume_name:
        bound = next((pv for pv in volumes if pv.metadata.name == pvc.spec.volume_name), None)
        if bound is None:
            return Wait("ClaimLost", f"bound volume {pvc.spec.volume_name} is gone", warning=True)
        if bound.spec.claim_ref is None or refers_to(bound, pvc):
            return Complete(bound) if bound.spec.claim_ref is not None else Bind(bound)
        return Wait("ClaimMisbound", f"volume {pvc.spec.volume_name} is bound to another claim", warning=True)
    selected = pvc.metadata.annotations.get(SELECTED_NODE_ANNOTATION)
    node = nodes.get(selected) if selected else None
    found = find_volume(pvc, volumes, node)
    if found is not None:
        return Bind(found)
    class_name = claim_storage_class(pvc)
    if not class_name:
        return Wait("FailedBinding", "no persistent volumes available for this claim and no storage class is set")
    sc = classes.get(class_name)
    if sc is None:
        return Wait("ProvisioningFailed", f'storageclass.storage.k8s.io "{class_name}" not found', warning=True)
    if sc.provisioner != LOCAL_PATH_PROVISIONER:
        return Wait("ExternalProvisioning", f'waiting for a volume to be created by provisioner "{sc.provisioner}"; '
                                            "kubelite runs no such provisioner: create a matching PersistentVolume")
    bad = [m for m in pvc.spec.access_modes if m not in LOCAL_PATH_MODES]
    if bad:
        return Wait("ProvisioningFailed", f"{LOCAL_PATH_PROVISIONER} only supports ReadWriteOnce and "
                                          f"ReadWriteOncePod access modes, not {', '.join(bad)}: a node-local "
                                          "directory cannot be shared between nodes", warning=True)
    if not selected:
        return Wait("WaitForFirstConsumer", "waiting for first consumer to be created before binding")
    if node is None:
        return Wait("ProvisioningFailed", f'selected node "{selected}" not found', warning=True)
    if not node.metadata.annotations.get(NODE_DATA_DIR_ANNOTATION):
        return Wait("ProvisioningFailed", f'node "{selected}" does not publish its data directory '
                                          f"({NODE_DATA_DIR_ANNOTATION}); is its kubelet up?", warning=True)
    return Provision(provisioned_volume(pvc, sc, node))


@dataclass(frozen=True)
class VolumeAction:
    """What to do with a volume: set its phase, clear a stale claimRef, or delete it."""

    phase: str | None = None
    delete: bool = False
    release: bool = False  # drop claimRef (a pre-bound claim that never existed is not a release)
    message: str = ""


def plan_volume(pv: PersistentVolume, claims: Mapping[str, PersistentVolumeClaim]) -> VolumeAction:
    """Phase of a volume from its claimRef; Delete/Retain once its claim is gone."""
    if pv.metadata.deletion_timestamp is not None:
        return VolumeAction()
    ref = pv.spec.claim_ref
    if ref is None:
        return VolumeAction(phase="Available")
    key = f"{ref.namespace or 'default'}/{ref.name}"
    claim = claims.get(key)
    if claim is not None and (not ref.uid or ref.uid == claim.metadata.uid):
        return VolumeAction(phase="Bound" if claim.spec.volume_name == pv.metadata.name else "Available")
    if not ref.uid:
        return VolumeAction(phase="Available")  # reserved for a claim not created yet
    if (pv.spec.persistent_volume_reclaim_policy or "Retain") == "Delete":
        return VolumeAction(phase="Released", delete=True)
    return VolumeAction(phase="Released", message=f"claim {key} was deleted; the volume is retained")

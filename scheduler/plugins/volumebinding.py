"""VolumeBinding: pods that use PersistentVolumeClaims go where their volumes are (or can be made).

* A claim bound to a PV with node affinity (every local-path volume, and
  `local` PVs) pins the pod to the nodes that affinity allows: the data is
  on that node's disk, so a rescheduled `web-1` returns to it.
* An unbound claim of a WaitForFirstConsumer class leaves the choice to the
  scheduler: every node passing the other filters may take the pod. When the
  pod is bound, this plugin's Bind step first writes the chosen node into
  the claim's `volume.kubernetes.io/selected-node` annotation (then lets the
  DefaultBinder bind the pod); the PV controller provisions the volume on that
  node and the kubelet waits for the claim to be bound before starting the
  containers. A claim that already names a node keeps the pod to that node,
  unless that node is gone: then the claim is given a new one.
* An unbound claim of an Immediate class (or with no class) must be bound by
  the PV controller first: the pod is unschedulable until it is. A class of
  the local-path provisioner is the exception: its volume can only be made
  once a node is chosen, so it is treated as WaitForFirstConsumer whatever
  its mode says.
* A missing claim makes the pod unschedulable with the claim named; any
  claim or volume change retries such pods (`ClusterEvent.VOLUME_CHANGE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from kubelite.api import Node, Pod
from kubelite.api.errors import ApiError
from kubelite.api.podutil import claim_names
from kubelite.api.storage import (
    LOCAL_PATH_PROVISIONER,
    SELECTED_NODE_ANNOTATION,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
    node_affinity_allows,
)
from kubelite.client import ApiClient, Informer
from scheduler.framework import SKIP, SUCCESS, ClusterEvent, CycleState, NodeInfo, Status

NAME = "VolumeBinding"
STATE_KEY = "VolumeBinding"
CONFLICT = "node(s) had volume node affinity conflict"
SELECTED_ELSEWHERE = "node(s) did not match the node selected for an unbound PersistentVolumeClaim"


class VolumeLister(Protocol):
    """What the plugin reads: claims, volumes and classes (informer stores, or fixed ones in tests)."""

    def claim(self, namespace: str, name: str) -> PersistentVolumeClaim | None: ...
    def volume(self, name: str) -> PersistentVolume | None: ...
    def storage_class(self, name: str) -> StorageClass | None: ...


class InformerVolumes:
    """`VolumeLister` over the scheduler's own informers of claims, volumes and classes."""

    def __init__(self, client: ApiClient) -> None:
        self.claims: Informer[PersistentVolumeClaim] = Informer(client, PersistentVolumeClaim)
        self.volumes: Informer[PersistentVolume] = Informer(client, PersistentVolume)
        self.classes: Informer[StorageClass] = Informer(client, StorageClass)

    @property
    def informers(self) -> list[Informer[Any]]:
        return [self.claims, self.volumes, self.classes]

    def claim(self, namespace: str, name: str) -> PersistentVolumeClaim | None:
        return self.claims.store.get(f"{namespace}/{name}")

    def volume(self, name: str) -> PersistentVolume | None:
        return self.volumes.store.get(name)

    def storage_class(self, name: str) -> StorageClass | None:
        return self.classes.store.get(name)


@dataclass
class _PodVolumes:
    bound: list[PersistentVolume] = field(default_factory=list)
    to_select: list[PersistentVolumeClaim] = field(default_factory=list)  # unbound WaitForFirstConsumer claims
    selected_node: str = ""  # a claim already names a node


def _read(state: CycleState) -> _PodVolumes | None:
    """What PreFilter found (None when it skipped the pod: no claims)."""
    try:
        found: _PodVolumes = state.read(STATE_KEY)
    except KeyError:
        return None
    return found


class VolumeBinding:
    name = NAME

    def __init__(self, volumes: VolumeLister, client: ApiClient | None = None) -> None:
        self.volumes = volumes
        self.client = client

    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        names = claim_names(pod)
        if not names:
            return SKIP
        ns = pod.metadata.namespace or "default"
        found = _PodVolumes()
        for name in names:
            pvc = self.volumes.claim(ns, name)
            if pvc is None:
                return Status.unschedulable(f'persistentvolumeclaim "{name}" not found', plugin=NAME)
            if pvc.metadata.deletion_timestamp is not None:
                return Status.unschedulable(f'persistentvolumeclaim "{name}" is being deleted', plugin=NAME)
            if pvc.spec.volume_name:
                pv = self.volumes.volume(pvc.spec.volume_name)
                if pv is None:
                    return Status.unschedulable(f'persistentvolumeclaim "{name}" is bound to a missing volume '
                                                f'"{pvc.spec.volume_name}"', plugin=NAME)
                found.bound.append(pv)
                continue
            sc = self.volumes.storage_class(pvc.spec.storage_class_name or "")
            if sc is None or (sc.volume_binding_mode != "WaitForFirstConsumer"
                              and sc.provisioner != LOCAL_PATH_PROVISIONER):
                return Status.unschedulable("pod has unbound immediate PersistentVolumeClaims", plugin=NAME)
            selected = pvc.metadata.annotations.get(SELECTED_NODE_ANNOTATION, "")
            if selected and (not state.nodes or any(n.name == selected and n.node is not None for n in state.nodes)):
                found.selected_node = selected
            else:
                found.to_select.append(pvc)  # never selected, or its node is gone: choose again
        state.write(STATE_KEY, found)
        return SUCCESS

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        found = _read(state)
        if found is None:
            return SUCCESS
        if found.selected_node and found.selected_node != node_info.name:
            return Status.unschedulable(SELECTED_ELSEWHERE, plugin=NAME)
        node: Node | None = node_info.node
        for pv in found.bound:
            if not node_affinity_allows(pv, node):
                return Status.unschedulable(CONFLICT, plugin=NAME)
        return SUCCESS

    def events_to_register(self) -> frozenset[ClusterEvent]:
        return frozenset({ClusterEvent.NODE_ADD, ClusterEvent.NODE_LABEL_CHANGE, ClusterEvent.VOLUME_CHANGE})

    async def bind(self, state: CycleState, pod: Pod, node_name: str) -> Status:
        """Write the chosen node into each unbound WaitForFirstConsumer claim, then let the next binder bind."""
        found = _read(state)
        if found is None or not found.to_select or self.client is None:
            return SKIP

        def select(pvc: PersistentVolumeClaim) -> bool:
            if pvc.spec.volume_name or pvc.metadata.annotations.get(SELECTED_NODE_ANNOTATION) == node_name:
                return False
            pvc.metadata.annotations[SELECTED_NODE_ANNOTATION] = node_name
            return True

        for pvc in found.to_select:
            try:
                await self.client.update_with_retry(PersistentVolumeClaim, pvc.metadata.name or "",
                                                    pvc.metadata.namespace or "default", select)
            except ApiError as exc:
                return Status.error(f"selecting node for claim {pvc.metadata.name}: {exc.message}", plugin=NAME)
        return SKIP

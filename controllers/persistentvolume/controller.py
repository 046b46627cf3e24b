"""The PersistentVolume controller: binds claims, provisions local-path volumes, reclaims freed ones.

Keys are `claim:<ns>/<name>` and `volume:<name>`; handlers only enqueue.
`reconcile` asks the pure `binder` what to do and performs it:

* Bind: the PV's `spec.claimRef` is written first (the reservation: another
  claim can no longer take it), then the claim's `spec.volumeName`, then both
  statuses -- the order Kubernetes uses, so a crash between steps leaves a
  reservation the next pass completes, never two claims on one volume.
* Provision: create the PV the binder built (pre-bound to the claim by its
  claimRef); its ADDED event brings the claim back and it is bound as above.
  The directory itself is made by the kubelet of the chosen node (see
  `kubelet.localpath`): the control plane never touches a node's disk.
* Reclaim: a volume whose claim is gone becomes Released; with reclaim policy
  Delete the PV is deleted, and the kubelet removes the directory before it
  lets the PV's finalizer go.

Claims that cannot bind get an event (reason and message from the binder),
which `kubectl describe pvc` shows. A deleted claim keeps its
`kubernetes.io/pvc-protection` finalizer (Terminating) until no pod that has
not finished uses it; then it is released and reclaim follows.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.persistentvolume.binder import (
    Bind,
    ClaimAction,
    Provision,
    Wait,
    claim_ref,
    plan_claim,
    plan_volume,
)
from kubelite.api import Node, Pod
from kubelite.api.errors import AlreadyExists, Conflict, NotFound
from kubelite.api.podutil import claim_names
from kubelite.api.storage import (
    BOUND_BY_CONTROLLER_ANNOTATION,
    PVC_PROTECTION_FINALIZER,
    SELECTED_NODE_ANNOTATION,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
)
from kubelite.client import Informer

log = logging.getLogger(__name__)

CLAIM = "claim:"
VOLUME = "volume:"


class PersistentVolumeController(Controller):
    name = "persistentvolume"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.recorder = self.own_recorder()
        self.claims: Informer[PersistentVolumeClaim] = ctx.factory.informer(PersistentVolumeClaim)
        self.volumes: Informer[PersistentVolume] = ctx.factory.informer(PersistentVolume)
        self.classes: Informer[StorageClass] = ctx.factory.informer(StorageClass)
        self.nodes: Informer[Node] = ctx.factory.informer(Node)
        self.pods: Informer[Pod] = ctx.factory.informer(Pod)
        self.pods.add_handlers(on_update=lambda _old, new: self._pod_changed(new),
                               on_delete=lambda pod: self._pod_changed(pod, gone=True))
        self.claims.add_handlers(self._claim_changed, lambda _old, new: self._claim_changed(new),
                                 self._claim_gone)
        self.volumes.add_handlers(self._volume_changed, lambda _old, new: self._volume_changed(new),
                                  self._volume_changed)
        self.classes.add_handlers(lambda _sc: self._all_pending_claims())

    # ---- handlers ---------------------------------------------------------------------------

    def _claim_changed(self, pvc: PersistentVolumeClaim) -> None:
        self.enqueue_key(f"{CLAIM}{pvc.metadata.namespace}/{pvc.metadata.name}")

    def _pod_changed(self, pod: Pod, gone: bool = False) -> None:
        """A pod that ends or goes may free a Terminating claim it used."""
        ending = gone or pod.metadata.deletion_timestamp is not None or pod.status.phase in ("Succeeded", "Failed")
        if not ending:
            return
        for name in claim_names(pod):
            pvc = self.claims.store.get(f"{pod.metadata.namespace}/{name}")
            if pvc is not None and pvc.metadata.deletion_timestamp is not None:
                self._claim_changed(pvc)

    def _claim_gone(self, pvc: PersistentVolumeClaim) -> None:
        for pv in self.volumes.store.list():
            ref = pv.spec.claim_ref
            if ref is not None and ref.name == pvc.metadata.name and ref.namespace == pvc.metadata.namespace:
                self.enqueue_key(f"{VOLUME}{pv.metadata.name}")

    def _volume_changed(self, pv: PersistentVolume) -> None:
        self.enqueue_key(f"{VOLUME}{pv.metadata.name}")
        ref = pv.spec.claim_ref
        if ref is not None:
            self.enqueue_key(f"{CLAIM}{ref.namespace or 'default'}/{ref.name}")
        else:
            self._all_pending_claims()  # a new Available volume may fit a waiting claim

    def _all_pending_claims(self) -> None:
        for pvc in self.claims.store.list():
            if not pvc.spec.volume_name:
                self._claim_changed(pvc)

    # ---- reconcile --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        if key.startswith(CLAIM):
            await self._sync_claim(key[len(CLAIM):])
        elif key.startswith(VOLUME):
            await self._sync_volume(key[len(VOLUME):])

    async def _sync_claim(self, key: str) -> None:
        pvc = self.claims.store.get(key)
        if pvc is None:
            return
        if pvc.metadata.deletion_timestamp is not None:
            await self._release_protection(pvc)
            return
        classes = {sc.metadata.name or "": sc for sc in self.classes.store.list()}
        nodes = {n.metadata.name or "": n for n in self.nodes.store.list()}
        action = plan_claim(pvc, self.volumes.store.list(), classes, nodes)
        await self._perform(pvc, action)

    def _in_use(self, pvc: PersistentVolumeClaim) -> bool:
        """A pod of the claim's namespace that has not finished (and is not gone) mounts it."""
        for pod in self.pods.store.list():
            if (pod.metadata.namespace == pvc.metadata.namespace and pod.status.phase not in ("Succeeded", "Failed")
                    and not (pod.metadata.deletion_timestamp and not pod.spec.node_name)
                    and pvc.metadata.name in claim_names(pod)):
                return True
        return False

    async def _release_protection(self, pvc: PersistentVolumeClaim) -> None:
        if PVC_PROTECTION_FINALIZER not in pvc.metadata.finalizers or self._in_use(pvc):
            return

        def drop(claim: PersistentVolumeClaim) -> bool:
            if PVC_PROTECTION_FINALIZER not in claim.metadata.finalizers:
                return False
            claim.metadata.finalizers = [f for f in claim.metadata.finalizers if f != PVC_PROTECTION_FINALIZER]
            return True

        try:
            await self.client.update_with_retry(PersistentVolumeClaim, pvc.metadata.name or "",
                                                pvc.metadata.namespace or "default", drop)
        except NotFound:
            pass

    async def _perform(self, pvc: PersistentVolumeClaim, action: ClaimAction) -> None:
        if isinstance(action, Wait):
            if action.reason:
                self.recorder.event(pvc, "Warning" if action.warning else "Normal", action.reason, action.message)
            return
        if isinstance(action, Provision):
            try:
                await self.client.create(action.volume)
            except AlreadyExists:
                return
            capacity = action.volume.spec.capacity.get("storage", "")
            self.recorder.event(pvc, "Normal", "ProvisioningSucceeded",
                                f"Successfully provisioned volume {action.volume.metadata.name} on node "
                                f"{pvc.metadata.annotations.get(SELECTED_NODE_ANNOTATION, '')}: capacity {capacity} "
                                "recorded, not enforced (a plain directory on the node's filesystem)")
            log.info("provisioned volume", extra={"claim": f"{pvc.metadata.namespace}/{pvc.metadata.name}",
                                                  "volume": action.volume.metadata.name})
            return
        volume = action.volume
        if isinstance(action, Bind):
            volume = await self._reserve(volume, pvc)
            pvc = await self._set_volume_name(pvc, volume)
        await self._bound_statuses(pvc, volume)

    async def _reserve(self, pv: PersistentVolume, pvc: PersistentVolumeClaim) -> PersistentVolume:
        if pv.spec.claim_ref is not None and pv.spec.claim_ref.uid == pvc.metadata.uid:
            return pv
        fresh = pv.model_copy(deep=True)
        fresh.spec.claim_ref = claim_ref(pvc)
        return await self.client.update(fresh)  # Conflict: someone else took it; retried from the cache

    async def _set_volume_name(self, pvc: PersistentVolumeClaim, pv: PersistentVolume) -> PersistentVolumeClaim:
        if pvc.spec.volume_name == pv.metadata.name:
            return pvc
        fresh = pvc.model_copy(deep=True)
        fresh.spec.volume_name = pv.metadata.name
        fresh.metadata.annotations[BOUND_BY_CONTROLLER_ANNOTATION] = "yes"
        updated = await self.client.update(fresh)
        self.recorder.event(updated, "Normal", "Bound", f"bound to volume {pv.metadata.name}")
        return updated

    async def _bound_statuses(self, pvc: PersistentVolumeClaim, pv: PersistentVolume) -> None:
        if pv.status.phase != "Bound":
            status_pv = pv.model_copy(deep=True)
            status_pv.status.phase = "Bound"
            status_pv.status.message = None
            await self.client.update_status(status_pv)
        status = pvc.status
        capacity = {"storage": pv.spec.capacity.get("storage", "0")}
        if status.phase != "Bound" or status.capacity != capacity or status.access_modes != pv.spec.access_modes:
            fresh = pvc.model_copy(deep=True)
            fresh.status.phase = "Bound"
            fresh.status.capacity = capacity
            fresh.status.access_modes = list(pv.spec.access_modes)
            await self.client.update_status(fresh)

    async def _sync_volume(self, name: str) -> None:
        pv = self.volumes.store.get(name)
        if pv is None:
            return
        claims = {f"{c.metadata.namespace}/{c.metadata.name}": c for c in self.claims.store.list()}
        action = plan_volume(pv, claims)
        if action.delete:
            try:
                await self.client.delete(PersistentVolume, name, "")
            except NotFound:
                return
            log.info("deleted released volume", extra={"volume": name})
            return
        if action.phase is not None and (pv.status.phase != action.phase or (pv.status.message or "")
                                         != action.message):
            fresh = pv.model_copy(deep=True)
            fresh.status.phase = action.phase
            fresh.status.message = action.message or None
            try:
                await self.client.update_status(fresh)
            except Conflict:
                self.enqueue_key(f"{VOLUME}{name}")

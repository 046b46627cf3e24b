"""What the DaemonSet, StatefulSet and Job controllers share: owning pods.

Why a common base: each of them watches its own kind plus pods, maps every
pod event to the owner that controls the pod (or, for an orphan, the owners
whose selector matches it), tracks creations/deletions under expectations so
a lagging cache never doubles an action, and writes pods with a controller
ownerReference. Only `reconcile` (the decision) differs per kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

from controllers.base import Controller, adopt, can_adopt, release
from controllers.claim import classify
from controllers.expectations import ControllerExpectations
from controllers.informers import NAMESPACE_INDEX, OWNER_UID_INDEX, InformerFactory
from controllers.podutil import make_controller_ref
from kubelite.api import KubeModel, LabelSelector, Pod, Resource, object_key
from kubelite.api.errors import AlreadyExists, BadRequest, Conflict, NotFound
from kubelite.api.selectors import LabelMatcher, label_matcher
from kubelite.api.timeutil import utcnow
from kubelite.client import ApiClient, EventRecorder, Informer, Store
from kubelite.daemon import Metrics

log = logging.getLogger(__name__)

OwnerT = TypeVar("OwnerT", bound=Resource)

Clock = Callable[[], datetime]


def selector_matcher(sel: LabelSelector | None) -> LabelMatcher | None:
    """The matcher of a workload selector; None (select nothing) when missing, empty or malformed."""
    if sel is None or (not sel.match_labels and not sel.match_expressions):
        return None
    try:
        return label_matcher(sel)
    except BadRequest:
        return None


def controlled_by(obj: Resource, owners: Store[OwnerT], kind: str) -> OwnerT | None:
    """The cached controller of `obj` of `kind` (name and uid must both match)."""
    ref = obj.metadata.controller_ref()
    if ref is None or ref.kind != kind:
        return None
    owner = owners.get(f"{obj.metadata.namespace}/{ref.name}")
    return owner if owner is not None and owner.metadata.uid == ref.uid else None


class PodOwnerController(Controller, Generic[OwnerT]):
    """Owner informer + pod informer + expectations; subclasses implement `reconcile`.

    `selector(owner)` says which orphans an owner may adopt (None: adopt
    nothing, e.g. a Job without a selector owns only the pods it created).
    """

    kind = "Owner"
    api_version = "apps/v1"

    def __init__(
        self,
        client: ApiClient,
        factory: InformerFactory,
        owner_cls: type[OwnerT],
        recorder: EventRecorder | None = None,
        workers: int = 2,
        metrics: Metrics | None = None,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(workers, metrics)
        self.client = client
        self.clock = clock
        self.recorder = recorder or EventRecorder(client, f"{self.name}-controller")
        self.expectations = ControllerExpectations()
        self.owner_informer: Informer[OwnerT] = factory.informer(owner_cls)
        self.pod_informer: Informer[Pod] = factory.informer(Pod)
        self.owner_informer.add_handlers(self._owner_added, self._owner_updated, self._owner_deleted)
        self.pod_informer.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)

    # ------------------------------------------------------------------ to override

    def selector(self, owner: OwnerT) -> LabelMatcher | None:
        """Which orphans `owner` may adopt; None adopts nothing (subclasses return their selector)."""
        return None

    def pod_changed(self, owner: OwnerT, old: Pod, new: Pod) -> None:
        """Hook for extra requeues on a pod update (e.g. after minReadySeconds)."""

    # ------------------------------------------------------------------ handlers (enqueue only)

    def _owner_added(self, owner: OwnerT) -> None:
        self.enqueue(owner)

    def _owner_updated(self, old: OwnerT, new: OwnerT) -> None:
        self.enqueue(new)

    def _owner_deleted(self, owner: OwnerT) -> None:
        key = object_key(owner)
        self.expectations.delete(key)
        self.enqueue_key(key)

    def owner_of(self, pod: Pod) -> OwnerT | None:
        return controlled_by(pod, self.owner_informer.store, self.kind)

    def _matching_owners(self, pod: Pod) -> list[OwnerT]:
        out = []
        for owner in self.owner_informer.store.by_index(NAMESPACE_INDEX, pod.metadata.namespace or ""):
            matcher = self.selector(owner)
            if matcher is not None and matcher.matches(pod.metadata.labels):
                out.append(owner)
        return out

    def _pod_added(self, pod: Pod) -> None:
        if pod.metadata.deletion_timestamp is not None:
            self._pod_deleted(pod)
            return
        if pod.metadata.controller_ref() is not None:
            owner = self.owner_of(pod)
            if owner is not None:
                key = object_key(owner)
                self.expectations.creation_observed(key)
                self.enqueue_key(key)
            return
        for owner in self._matching_owners(pod):
            self.enqueue(owner)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.metadata.resource_version == new.metadata.resource_version:
            return
        if new.metadata.deletion_timestamp is not None and old.metadata.deletion_timestamp is None:
            owner = self.owner_of(new)
            if owner is not None:
                self.expectations.deletion_observed(object_key(owner), object_key(new))
        old_ref, new_ref = old.metadata.controller_ref(), new.metadata.controller_ref()
        if old_ref != new_ref and old_ref is not None:
            previous = self.owner_of(old)
            if previous is not None:
                self.enqueue(previous)
        if new_ref is not None:
            owner = self.owner_of(new)
            if owner is not None:
                self.enqueue(owner)
                self.pod_changed(owner, old, new)
            return
        for owner in self._matching_owners(new):
            self.enqueue(owner)

    def _pod_deleted(self, pod: Pod) -> None:
        owner = self.owner_of(pod)
        if owner is None:
            return
        key = object_key(owner)
        self.expectations.deletion_observed(key, object_key(pod))
        self.enqueue_key(key)

    # ------------------------------------------------------------------ shared reconcile steps

    async def claim_pods(self, owner: OwnerT) -> list[Pod]:
        """The owner's pods (all phases, terminating included), after adopting/releasing by selector."""
        uid = owner.metadata.uid or ""
        matcher = self.selector(owner)
        deleting = owner.metadata.deletion_timestamp is not None
        if matcher is None:
            return [p for p in self.pod_informer.store.by_index(OWNER_UID_INDEX, uid)
                    if (ref := p.metadata.controller_ref()) is not None and ref.uid == uid]
        candidates = self.pod_informer.store.by_index(NAMESPACE_INDEX, owner.metadata.namespace or "")
        claims = classify(uid, deleting, matcher.matches, candidates)
        owned = list(claims.owned)
        if claims.adopt and await can_adopt(self.client, owner):
            ref = make_controller_ref(owner, self.api_version, self.kind)
            for pod in claims.adopt:
                adopted = await adopt(self.client, pod, ref)
                if adopted is not None:
                    owned.append(adopted)
        for pod in claims.release:
            await release(self.client, pod, uid)
        return owned

    async def create_pod(self, owner: OwnerT, key: str, pod: Pod) -> Pod | None:
        """Create one pod under an expectation already recorded; None (and lowered) if it failed."""
        try:
            created = await self.client.create(pod)
        except AlreadyExists:
            self.expectations.lower_creations(key, 1)
            raise
        except Exception as exc:
            self.expectations.lower_creations(key, 1)
            self.recorder.event(owner, "Warning", "FailedCreate", f"Error creating: {exc}")
            raise
        self.recorder.event(owner, "Normal", "SuccessfulCreate", f"Created pod: {created.metadata.name}")
        return created

    async def delete_pod(self, owner: OwnerT, key: str, pod: Pod) -> None:
        """Delete one pod under an expectation already recorded (uid precondition)."""
        try:
            await self.client.delete(Pod, pod.metadata.name or "", pod.metadata.namespace or "default",
                                     precondition_uid=pod.metadata.uid)
            self.recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")
        except (NotFound, Conflict):
            self.expectations.deletion_observed(key, object_key(pod))
        except Exception:
            self.expectations.deletion_observed(key, object_key(pod))
            raise

    async def write_status(self, owner: OwnerT, current: KubeModel, status: KubeModel) -> None:
        """Write `status` only when it differs from the cached `current`; a vanished owner is fine.

        A Conflict propagates: the queue retries after the cache caught up.
        """
        if status.to_dict() == current.to_dict():
            return
        updated = owner.copy_deep()
        updated.status = status  # type: ignore[attr-defined]
        try:
            await self.client.update_status(updated)
        except NotFound:
            return


def raise_first(results: Sequence[object]) -> None:
    """Re-raise the first exception of an `asyncio.gather(..., return_exceptions=True)`."""
    for result in results:
        if isinstance(result, BaseException):
            raise result

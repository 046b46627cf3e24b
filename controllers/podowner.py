"""What the ReplicaSet, DaemonSet, StatefulSet and Job controllers share: owning pods.

Why a common base: each of them watches its own kind plus pods, maps every
pod event to the owner that controls the pod (or, for an orphan, the owners
whose selector matches it), tracks creations/deletions under expectations so
a lagging cache never doubles an action, and writes pods with a controller
ownerReference. Only `reconcile` (the decision) differs per kind.

The pod handlers follow Kubernetes' ReplicaSet controller: an update of a
terminating pod counts as its deletion (and, if its labels changed, as the
deletion of the old labels' pod too); an orphan's update wakes matching owners
only when its labels or controller changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, cast

from controllers.base import (
    Controller,
    ControllerContext,
    OwnerT,
    claim,
    controlled_by,
    matching_owners,
    raise_first,
)
from controllers.expectations import ControllerExpectations
from controllers.informers import NAMESPACE_INDEX, OWNER_UID_INDEX
from controllers.slowstart import slow_start_batches
from kubelite.api import KubeModel, Pod, Resource, object_key
from kubelite.api.errors import AlreadyExists, Conflict, NotFound
from kubelite.api.podutil import is_pod_ready
from kubelite.api.selectors import LabelMatcher
from kubelite.client import Informer

log = logging.getLogger(__name__)

class PodOwnerController(Controller, Generic[OwnerT]):
    """Owner informer + pod informer + expectations; subclasses implement `reconcile`.

    `selector(owner)` says which orphans an owner may adopt (None: adopt
    nothing, e.g. a Job without a selector owns only the pods it created).
    A subclass names its kind once: `class XController(PodOwnerController[X], owner=X)`;
    `kind` and `api_version` (of the ownerReferences it writes) come from the model.
    """

    kind = "Owner"
    api_version = "apps/v1"
    owner_cls: type[Resource]

    def __init_subclass__(cls, *, owner: type[Resource] | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if owner is not None:
            cls.owner_cls = owner
            cls.kind = owner.model_fields["kind"].default
            cls.api_version = owner.model_fields["api_version"].default

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.recorder = self.own_recorder()
        self.expectations = ControllerExpectations()
        self.owner_informer: Informer[OwnerT] = ctx.factory.informer(cast(type[OwnerT], self.owner_cls))
        self.pod_informer: Informer[Pod] = ctx.factory.informer(Pod)
        self.owner_informer.add_handlers(self._owner_added, self._owner_updated, self._owner_deleted)
        self.pod_informer.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)

    # ------------------------------------------------------------------ to override

    def selector(self, owner: OwnerT) -> LabelMatcher | None:
        """Which orphans `owner` may adopt; None adopts nothing (subclasses return their selector)."""
        return None

    def claimable(self, pod: Pod) -> bool:
        """Whether `pod` takes part in claiming at all (a ReplicaSet ignores finished pods)."""
        return True

    def min_ready_seconds(self, owner: OwnerT) -> int:
        """The owner's minReadySeconds: a pod turning ready requeues the owner once it becomes available."""
        return 0

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
        return matching_owners(pod, self.owner_informer.store, self.selector)

    def _pod_added(self, pod: Pod) -> None:
        if pod.metadata.deletion_timestamp is not None:
            # Seen for the first time already terminating (e.g. after a restart): a deletion, not a creation.
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
            return  # periodic resync: nothing changed
        labels_changed = old.metadata.labels != new.metadata.labels
        if new.metadata.deletion_timestamp is not None:
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        old_ref, new_ref = old.metadata.controller_ref(), new.metadata.controller_ref()
        ref_changed = old_ref != new_ref
        if ref_changed and old_ref is not None:
            previous = self.owner_of(old)
            if previous is not None:
                self.enqueue(previous)
        if new_ref is not None:
            owner = self.owner_of(new)
            if owner is None:
                return
            self.enqueue(owner)
            min_ready = self.min_ready_seconds(owner)
            if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(new):
                self.queue.add_after(object_key(owner), min_ready + 0.1)
            return
        if labels_changed or ref_changed:
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
        """The owner's claimable pods (terminating included), after adopting/releasing by selector."""
        uid = owner.metadata.uid or ""
        matcher = self.selector(owner)
        if matcher is None:
            return [p for p in self.pod_informer.store.by_index(OWNER_UID_INDEX, uid)
                    if (ref := p.metadata.controller_ref()) is not None and ref.uid == uid and self.claimable(p)]
        candidates = [p for p in self.pod_informer.store.by_index(NAMESPACE_INDEX, owner.metadata.namespace or "")
                      if self.claimable(p)]
        return await claim(self.client, owner, self.api_version, self.kind, matcher, candidates)

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

    async def create_pods(self, owner: OwnerT, key: str, count: int, make: Callable[[int], Pod]) -> None:
        """Create `count` pods `make(0)`, `make(1)`, ... in slow-start batches 1, 2, 4, ...; stop at the
        first failing batch.

        Why batches: if creations fail (quota, bad template, apiserver
        overloaded) the first small batch fails fast instead of sending
        hundreds of doomed requests. The skipped creations are taken off the
        expectations, since the informer will never see them.
        """
        self.expectations.expect_creations(key, count)
        remaining, done = count, 0
        for batch in slow_start_batches(count):
            results = await asyncio.gather(*(self.create_pod(owner, key, make(done + i)) for i in range(batch)),
                                           return_exceptions=True)
            remaining -= batch
            done += batch
            if any(isinstance(r, BaseException) for r in results):
                self.expectations.lower_creations(key, remaining)
                raise_first(results)
        log.info("created pods", extra={"kind": self.kind, "owner": key, "count": count})

    async def delete_pod(self, owner: OwnerT, key: str, pod: Pod) -> None:
        """Delete one pod under an expectation already recorded (uid precondition)."""
        try:
            await self.client.delete(Pod, pod.metadata.name or "", pod.metadata.namespace or "default",
                                     precondition_uid=pod.metadata.uid)
            self.recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")
        except (NotFound, Conflict):
            # Already gone (or replaced by a namesake): no deletion event will come for it.
            self.expectations.deletion_observed(key, object_key(pod))
        except Exception:
            self.expectations.deletion_observed(key, object_key(pod))
            raise

    async def delete_pods(self, owner: OwnerT, key: str, victims: Sequence[Pod]) -> None:
        """Delete `victims` concurrently under expectations; raise the first failure after all were tried."""
        self.expectations.expect_deletions(key, [object_key(p) for p in victims])
        results = await asyncio.gather(*(self.delete_pod(owner, key, p) for p in victims), return_exceptions=True)
        log.info("deleted pods", extra={"kind": self.kind, "owner": key, "count": len(victims)})
        raise_first(results)

    async def write_status(self, owner: OwnerT, current: KubeModel, status: KubeModel) -> bool:
        """Write `status` only when it differs from the cached `current`; False when the owner vanished.

        A Conflict propagates: the queue retries after the cache caught up.
        """
        if status.to_dict() == current.to_dict():
            return True
        updated = owner.copy_deep()
        updated.status = status  # type: ignore[attr-defined]
        try:
            await self.client.update_status(updated)
        except NotFound:
            return False
        return True

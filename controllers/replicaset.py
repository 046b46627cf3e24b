"""The ReplicaSet controller: keeps exactly spec.replicas active pods per ReplicaSet.

Handlers map every pod event to the ReplicaSet that controls the pod (or, for
an orphan, every ReplicaSet whose selector matches it) and only enqueue keys.
`reconcile` reads the caches, adopts/releases pods, creates or deletes the
difference under expectations (so a lagging cache never doubles a create or a
delete), and writes status only when it changed.
"""

from __future__ import annotations

import asyncio
import logging

from controllers.base import (
    Controller,
    adopt,
    can_adopt,
    controller_owner,
    matching_owners,
    release,
    selector_of,
)
from controllers.claim import classify
from controllers.expectations import ControllerExpectations
from controllers.informers import NAMESPACE_INDEX, InformerFactory
from controllers.podutil import make_controller_ref
from controllers.rsplan import (
    RS_API_VERSION,
    RS_KIND,
    active,
    compute_status,
    next_availability_check,
    plan_replicas,
    pod_from_template,
    slow_start_batches,
)
from kubelite.api import Pod, ReplicaSet, object_key
from kubelite.api.errors import Conflict, NotFound
from kubelite.api.podutil import is_pod_ready
from kubelite.api.timeutil import utcnow
from kubelite.client import ApiClient, EventRecorder
from kubelite.daemon import Metrics

log = logging.getLogger(__name__)



class ReplicaSetController(Controller):
    name = "replicaset"

    def __init__(
        self,
        client: ApiClient,
        factory: InformerFactory,
        recorder: EventRecorder | None = None,
        workers: int = 2,
        metrics: Metrics | None = None,
        expectations: ControllerExpectations | None = None,
    ) -> None:
        super().__init__(workers, metrics)
        self.client = client
        self.recorder = recorder or EventRecorder(client, "replicaset-controller")
        self.expectations = expectations or ControllerExpectations()
        self.rs_informer = factory.informer(ReplicaSet)
        self.pod_informer = factory.informer(Pod)
        self.rs_informer.add_handlers(self._rs_added, self._rs_updated, self._rs_deleted)
        self.pod_informer.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)

    # ------------------------------------------------------------------ handlers (enqueue only)

    def _rs_added(self, rs: ReplicaSet) -> None:
        self.enqueue(rs)

    def _rs_updated(self, old: ReplicaSet, new: ReplicaSet) -> None:
        self.enqueue(new)

    def _rs_deleted(self, rs: ReplicaSet) -> None:
        key = object_key(rs)
        self.expectations.delete(key)
        self.enqueue_key(key)

    def _owner_of(self, pod: Pod) -> ReplicaSet | None:
        """The cached RS that controls `pod` (name and uid must both match)."""
        return controller_owner(pod, self.rs_informer.store, RS_KIND)

    def _matching_replica_sets(self, pod: Pod) -> list[ReplicaSet]:
        return matching_owners(pod, self.rs_informer.store)

    def _pod_added(self, pod: Pod) -> None:
        if pod.metadata.deletion_timestamp is not None:
            # Seen for the first time already terminating (e.g. after a restart): a deletion, not a creation.
            self._pod_deleted(pod)
            return
        if pod.metadata.controller_ref() is not None:
            rs = self._owner_of(pod)
            if rs is not None:
                key = object_key(rs)
                self.expectations.creation_observed(key)
                self.enqueue_key(key)
            return
        for rs in self._matching_replica_sets(pod):
            self.enqueue(rs)

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
            old_rs = self._owner_of(old)
            if old_rs is not None:
                self.enqueue(old_rs)
        if new_ref is not None:
            rs = self._owner_of(new)
            if rs is None:
                return
            self.enqueue(rs)
            min_ready = rs.spec.min_ready_seconds or 0
            if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(new):
                self.queue.add_after(object_key(rs), min_ready + 0.1)
            return
        if labels_changed or ref_changed:
            for rs in self._matching_replica_sets(new):
                self.enqueue(rs)

    def _pod_deleted(self, pod: Pod) -> None:
        rs = self._owner_of(pod)
        if rs is None:
            return
        key = object_key(rs)
        self.expectations.deletion_observed(key, object_key(pod))
        self.enqueue_key(key)

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        rs = self.rs_informer.store.get(key)
        if rs is None:
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        matcher = selector_of(rs)
        deleting = rs.metadata.deletion_timestamp is not None
        pods = active(self.pod_informer.store.by_index(NAMESPACE_INDEX, rs.metadata.namespace or ""))
        claims = classify(
            rs.metadata.uid or "", deleting, matcher.matches if matcher else (lambda _labels: False), pods
        )
        owned = list(claims.owned)
        if claims.adopt and await can_adopt(self.client, rs):
            ref = make_controller_ref(rs, RS_API_VERSION, RS_KIND)
            for pod in claims.adopt:
                adopted = await adopt(self.client, pod, ref)
                if adopted is not None:
                    log.info("adopted pod", extra={"replicaset": key, "pod": adopted.metadata.name})
                    owned.append(adopted)
        for pod in claims.release:
            if await release(self.client, pod, rs.metadata.uid or "") is not None:
                log.info("released pod", extra={"replicaset": key, "pod": pod.metadata.name})

        error: Exception | None = None
        if needs_sync and not deleting and matcher is not None:
            try:
                await self._manage_replicas(rs, key, owned)
            except Exception as exc:  # still write status below, then retry
                error = exc

        now = utcnow()
        status = compute_status(rs, owned, now)
        if status.to_dict() != rs.status.to_dict():
            updated = rs.copy_deep()
            updated.status = status
            try:
                await self.client.update_status(updated)
            except NotFound:
                return
        if error is not None:
            raise error
        wait = next_availability_check(rs, owned, now)
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _manage_replicas(self, rs: ReplicaSet, key: str, owned: list[Pod]) -> None:
        plan = plan_replicas(rs, owned)
        if plan.create:
            await self._create_pods(rs, key, plan.create)
        elif plan.delete:
            await self._delete_pods(rs, key, plan.delete)

    async def _create_pods(self, rs: ReplicaSet, key: str, count: int) -> None:
        """Create `count` pods in slow-start batches; stop at the first failing batch."""
        self.expectations.expect_creations(key, count)
        remaining = count
        for batch in slow_start_batches(count):
            results = await asyncio.gather(
                *(self.client.create(pod_from_template(rs)) for _ in range(batch)), return_exceptions=True
            )
            remaining -= batch
            failures = [r for r in results if isinstance(r, BaseException)]
            for pod in results:
                if isinstance(pod, Pod):
                    self.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod.metadata.name}")
            if failures:
                # The informer will never see these (or the skipped ones): stop waiting for them.
                self.expectations.lower_creations(key, len(failures) + remaining)
                first = failures[0]
                self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {first}")
                if isinstance(first, Exception):
                    raise first
                raise RuntimeError(f"pod creation failed: {first!r}")
        log.info("created pods", extra={"replicaset": key, "count": count})

    async def _delete_pods(self, rs: ReplicaSet, key: str, victims: list[Pod]) -> None:
        keys = [object_key(p) for p in victims]
        self.expectations.expect_deletions(key, keys)

        async def delete(pod: Pod) -> None:
            try:
                await self.client.delete(
                    Pod, pod.metadata.name or "", pod.metadata.namespace or "default",
                    precondition_uid=pod.metadata.uid,
                )
                self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")
            except (NotFound, Conflict):
                # Already gone (or replaced by a namesake): no deletion event will come for it.
                self.expectations.deletion_observed(key, object_key(pod))
            except Exception:
                self.expectations.deletion_observed(key, object_key(pod))
                raise

        results = await asyncio.gather(*(delete(p) for p in victims), return_exceptions=True)
        log.info("deleted pods", extra={"replicaset": key, "count": len(victims)})
        for result in results:
            if isinstance(result, Exception):
                raise result

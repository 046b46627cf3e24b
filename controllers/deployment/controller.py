"""The Deployment controller: one ReplicaSet per pod template, rolled by strategy.

For each Deployment it finds (or creates) the ReplicaSet named
`<deployment>-<pod-template-hash>` for the current template, adopts/releases
ReplicaSets by selector, then either resizes (scale event, paused) or rolls
(RollingUpdate within maxSurge/maxUnavailable, or Recreate), prunes old empty
ReplicaSets beyond revisionHistoryLimit, and writes status when it changed.

No expectations are needed here: the new ReplicaSet's name is deterministic
(a second create answers AlreadyExists) and every resize is a compare-and-swap
on the cached resourceVersion, so a stale cache yields a Conflict and a
requeue, never a double action.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from controllers.base import (
    Controller,
    ControllerContext,
    claim,
    controlled_by,
    matching_owners,
    selector_matcher,
)
from controllers.deployment.rollout import (
    new_rs_replicas,
    old_pods_running,
    proportional_scale,
    reconcile_new_rs,
    reconcile_old_rss,
    recreate_scale_down,
    replica_sets_to_clean,
)
from controllers.deployment.status import (
    NEW_RS_AVAILABLE,
    PROGRESSING,
    deployment_complete,
    progress_deadline,
    rollout_status,
)
from controllers.deployment.templatehash import (
    POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION,
    compute_template_hash,
    copied_annotations,
    desired_replicas,
    find_new_replica_set,
    is_rolling,
    is_scaling_event,
    max_revision,
    replicas_annotations,
    revision_of,
    rs_replicas,
)
from controllers.informers import NAMESPACE_INDEX
from controllers.podutil import make_controller_ref
from kubelite.api import Deployment, LabelSelector, ObjectMeta, Pod, ReplicaSet, ReplicaSetSpec, object_key
from kubelite.api.errors import AlreadyExists, Conflict, NotFound
from kubelite.api.podutil import get_condition
from kubelite.api.selectors import LabelMatcher

log = logging.getLogger(__name__)

DEPLOY_API_VERSION = "apps/v1"
DEPLOY_KIND = "Deployment"



class DeploymentController(Controller):
    name = "deployment"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.recorder = self.own_recorder()
        self.d_informer = ctx.factory.informer(Deployment)
        self.rs_informer = ctx.factory.informer(ReplicaSet)
        self.pod_informer = ctx.factory.informer(Pod)
        self.d_informer.add_handlers(self.enqueue, lambda _old, new: self.enqueue(new), self.enqueue)
        self.rs_informer.add_handlers(self._rs_added, self._rs_updated, self._rs_deleted)
        self.pod_informer.add_handlers(on_delete=self._pod_deleted)

    # ------------------------------------------------------------------ handlers (enqueue only)

    def _owner_of(self, rs: ReplicaSet) -> Deployment | None:
        return controlled_by(rs, self.d_informer.store, DEPLOY_KIND)

    def _matching_deployments(self, rs: ReplicaSet) -> list[Deployment]:
        return matching_owners(rs, self.d_informer.store, lambda d: selector_matcher(d.spec.selector))

    def _rs_added(self, rs: ReplicaSet) -> None:
        if rs.metadata.controller_ref() is not None:
            d = self._owner_of(rs)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._matching_deployments(rs):
            self.enqueue(d)

    def _rs_updated(self, old: ReplicaSet, new: ReplicaSet) -> None:
        if old.metadata.resource_version == new.metadata.resource_version:
            return
        old_ref, new_ref = old.metadata.controller_ref(), new.metadata.controller_ref()
        if old_ref != new_ref and old_ref is not None:
            d = self._owner_of(old)
            if d is not None:
                self.enqueue(d)
        if new_ref is not None:
            d = self._owner_of(new)
            if d is not None:
                self.enqueue(d)
            return
        if old.metadata.labels != new.metadata.labels or old_ref != new_ref:
            for d in self._matching_deployments(new):
                self.enqueue(d)

    def _rs_deleted(self, rs: ReplicaSet) -> None:
        d = self._owner_of(rs)
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: Pod) -> None:
        """Recreate waits for old pods to be gone: a pod's removal may unblock it."""
        ref = pod.metadata.controller_ref()
        if ref is None or ref.kind != "ReplicaSet":
            return
        rs = self.rs_informer.store.get(f"{pod.metadata.namespace}/{ref.name}")
        if rs is None:
            return
        d = self._owner_of(rs)
        if d is not None and not is_rolling(d):
            self.enqueue(d)

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, key: str) -> None:
        d = self.d_informer.store.get(key)
        if d is None:
            return
        matcher = selector_matcher(d.spec.selector)
        if matcher is None:
            self.recorder.event(d, "Warning", "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector is required.")
            return
        rss = await self._claim_replica_sets(d, matcher)
        if d.metadata.deletion_timestamp is not None:
            await self._sync_status(d, rss, self._current_new(d, rss))
            return
        if d.spec.paused or is_scaling_event(d, rss):
            await self._sync_scale(d, rss)
            return
        if is_rolling(d):
            await self._rollout_rolling(d, rss)
        else:
            await self._rollout_recreate(d, rss)

    async def _claim_replica_sets(self, d: Deployment, matcher: LabelMatcher) -> list[ReplicaSet]:
        candidates = self.rs_informer.store.by_index(NAMESPACE_INDEX, d.metadata.namespace or "")
        return await claim(self.client, d, DEPLOY_API_VERSION, DEPLOY_KIND, matcher, candidates)

    def _current_new(self, d: Deployment, rss: Sequence[ReplicaSet]) -> ReplicaSet | None:
        return find_new_replica_set(d, rss, compute_template_hash(d.spec.template, d.status.collision_count))

    # --- the new ReplicaSet -------------------------------------------------------------------

    async def _new_and_old(
        self, d: Deployment, rss: list[ReplicaSet], create: bool
    ) -> tuple[ReplicaSet | None, list[ReplicaSet]]:
        """Find (or create) the new RS and bring its revision annotation up to date."""
        template_hash = compute_template_hash(d.spec.template, d.status.collision_count)
        new_rs = find_new_replica_set(d, rss, template_hash)
        old = [rs for rs in rss if new_rs is None or rs.metadata.uid != new_rs.metadata.uid]
        revision = max_revision(old) + 1
        if new_rs is not None:
            stale_revision = revision_of(new_rs) < revision
            stale_min_ready = (new_rs.spec.min_ready_seconds or 0) != (d.spec.min_ready_seconds or 0)
            if stale_revision or stale_min_ready:
                copy = new_rs.copy_deep()
                if stale_revision:  # e.g. a rollback to an older template: it becomes the newest revision
                    copy.metadata.annotations[REVISION_ANNOTATION] = str(revision)
                copy.spec.min_ready_seconds = d.spec.min_ready_seconds
                new_rs = await self.client.update(copy)
            return new_rs, old
        if not create:
            return None, old
        new_rs = await self._create_new_rs(d, old, template_hash, revision)
        return new_rs, old

    async def _create_new_rs(
        self, d: Deployment, old: list[ReplicaSet], template_hash: str, revision: int
    ) -> ReplicaSet | None:
        template = d.spec.template.copy_deep()
        template.metadata.labels[POD_TEMPLATE_HASH_LABEL] = template_hash
        selector = (d.spec.selector or LabelSelector()).copy_deep()
        selector.match_labels[POD_TEMPLATE_HASH_LABEL] = template_hash
        annotations = copied_annotations(d)
        annotations[REVISION_ANNOTATION] = str(revision)
        annotations.update(replicas_annotations(d))
        replicas = new_rs_replicas(d, old, None)
        rs = ReplicaSet(
            metadata=ObjectMeta(
                name=f"{d.metadata.name}-{template_hash}",
                namespace=d.metadata.namespace,
                labels=dict(template.metadata.labels),
                annotations=annotations,
                owner_references=[make_controller_ref(d, DEPLOY_API_VERSION, DEPLOY_KIND)],
            ),
            spec=ReplicaSetSpec(
                replicas=replicas, min_ready_seconds=d.spec.min_ready_seconds, selector=selector, template=template,
            ),
        )
        try:
            created = await self.client.create(rs)
        except AlreadyExists:
            existing = await self.client.get(ReplicaSet, rs.metadata.name or "", d.metadata.namespace or "default")
            ref = existing.metadata.controller_ref()
            if ref is not None and ref.uid == d.metadata.uid and find_new_replica_set(d, [existing], template_hash):
                return existing  # ours; the cache had not caught up with our earlier create
            await self._bump_collision_count(d)
            return None
        self.recorder.event(d, "Normal", "ScalingReplicaSet",
                            f"Scaled up replica set {created.metadata.name} to {replicas}")
        log.info("created replica set", extra={"deployment": object_key(d), "replicaset": created.metadata.name})
        return created

    async def _bump_collision_count(self, d: Deployment) -> None:
        """A foreign RS holds our name: change the hash input and try again shortly."""
        updated = d.copy_deep()
        updated.status.collision_count = (d.status.collision_count or 0) + 1
        await self.client.update_status(updated)
        log.warning("replica set name collision", extra={"deployment": object_key(d),
                                                         "collisionCount": updated.status.collision_count})
        self.queue.add_after(object_key(d), 0.05)

    async def _with_revision(self, d: Deployment, new_rs: ReplicaSet | None) -> Deployment:
        """Mirror the new RS's revision annotation on the Deployment (what `rollout history` reads)."""
        revision = revision_of(new_rs) if new_rs is not None else 0
        if revision <= 0 or d.metadata.annotations.get(REVISION_ANNOTATION) == str(revision):
            return d
        copy = d.copy_deep()
        copy.metadata.annotations[REVISION_ANNOTATION] = str(revision)
        return await self.client.update(copy)  # Conflict -> requeue and decide again

    # --- resizing -------------------------------------------------------------------------------

    async def _scale(self, d: Deployment, rs: ReplicaSet, replicas: int) -> ReplicaSet:
        """Resize `rs` (and stamp the replica annotations); no write when nothing changes."""
        annotations = replicas_annotations(d)
        same_size = rs_replicas(rs) == replicas
        if same_size and all(rs.metadata.annotations.get(k) == v for k, v in annotations.items()):
            return rs
        copy = rs.copy_deep()
        copy.spec.replicas = replicas
        copy.metadata.annotations.update(annotations)
        updated = await self.client.update(copy)
        if not same_size:
            direction = "up" if replicas > rs_replicas(rs) else "down"
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {direction} replica set {rs.metadata.name} from {rs_replicas(rs)} to {replicas}")
        return updated

    async def _apply_targets(self, d: Deployment, rss: list[ReplicaSet], targets: dict[str, int]) -> list[ReplicaSet]:
        """Write target sizes; returns `rss` with the written objects swapped in."""
        out = []
        for rs in rss:
            target = targets.get(rs.metadata.name or "")
            out.append(rs if target is None else await self._scale(d, rs, target))
        return out

    # --- strategies ---------------------------------------------------------------------------

    async def _sync_scale(self, d: Deployment, rss: list[ReplicaSet]) -> None:
        """Scale event or paused Deployment: resize without rolling the template."""
        new_rs, old = await self._new_and_old(d, rss, create=False)
        targets = proportional_scale(d, new_rs, old)
        all_rss = await self._apply_targets(d, [*old, *([new_rs] if new_rs else [])], targets)
        new_rs = next((rs for rs in all_rss if new_rs is not None and rs.metadata.uid == new_rs.metadata.uid), None)
        old = [rs for rs in all_rss if rs is not new_rs]
        if d.spec.paused:
            await self._cleanup(d, old)
        await self._sync_status(d, all_rss, new_rs)

    async def _rollout_rolling(self, d: Deployment, rss: list[ReplicaSet]) -> None:
        new_rs, old = await self._new_and_old(d, rss, create=True)
        if new_rs is None:
            return  # name collision: requeued with a new collision count
        all_rss = [*old, new_rs]
        target = reconcile_new_rs(d, all_rss, new_rs)
        if target is not None:
            new_rs = await self._scale(d, new_rs, target)
            await self._sync_status(d, [*old, new_rs], new_rs)
            return
        targets = reconcile_old_rss(d, new_rs, old)
        if targets:
            old = await self._apply_targets(d, old, targets)
            await self._sync_status(d, [*old, new_rs], new_rs)
            return
        await self._finish(d, old, new_rs)

    async def _rollout_recreate(self, d: Deployment, rss: list[ReplicaSet]) -> None:
        new_rs, old = await self._new_and_old(d, rss, create=False)
        targets = recreate_scale_down(old)
        if targets:
            old = await self._apply_targets(d, old, targets)
            await self._sync_status(d, [*old, *([new_rs] if new_rs else [])], new_rs)
            return
        old_uids = {rs.metadata.uid for rs in old}
        phases = [
            p.status.phase
            for p in self.pod_informer.store.by_index(NAMESPACE_INDEX, d.metadata.namespace or "")
            if (ref := p.metadata.controller_ref()) is not None and ref.uid in old_uids
        ]
        if old_pods_running(old, phases):
            await self._sync_status(d, [*old, *([new_rs] if new_rs else [])], new_rs)
            return
        if new_rs is None:
            new_rs, old = await self._new_and_old(d, rss, create=True)
            if new_rs is None:
                return
        new_rs = await self._scale(d, new_rs, desired_replicas(d))
        await self._finish(d, old, new_rs)

    async def _finish(self, d: Deployment, old: list[ReplicaSet], new_rs: ReplicaSet) -> None:
        """Nothing left to resize: prune history once complete, then record status."""
        status = rollout_status(d, [*old, new_rs], new_rs, self.clock())
        if deployment_complete(d, status):
            old = await self._cleanup(d, old)
        await self._sync_status(d, [*old, new_rs], new_rs)

    async def _cleanup(self, d: Deployment, old: list[ReplicaSet]) -> list[ReplicaSet]:
        doomed = replica_sets_to_clean(d, old)
        for rs in doomed:
            try:
                await self.client.delete(ReplicaSet, rs.metadata.name or "", rs.metadata.namespace or "default",
                                         precondition_uid=rs.metadata.uid)
                log.info("deleted old replica set", extra={"deployment": object_key(d), "replicaset": rs.metadata.name})
            except (NotFound, Conflict):
                pass
        gone = {rs.metadata.uid for rs in doomed}
        return [rs for rs in old if rs.metadata.uid not in gone]

    async def _sync_status(self, d: Deployment, all_rss: list[ReplicaSet], new_rs: ReplicaSet | None) -> None:
        if d.metadata.deletion_timestamp is None:
            d = await self._with_revision(d, new_rs)
        status = rollout_status(d, all_rss, new_rs, self.clock())
        if status.to_dict() != d.status.to_dict():
            updated = d.copy_deep()
            updated.status = status
            try:
                await self.client.update_status(updated)
            except NotFound:
                return
        cond = get_condition(status, PROGRESSING)
        deadline = progress_deadline(d)
        if (deadline is not None and cond is not None and cond.status == "True"
                and cond.reason != NEW_RS_AVAILABLE and not d.spec.paused):
            self.queue.add_after(object_key(d), deadline + 1)

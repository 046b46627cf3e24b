"""The ReplicaSet controller: keeps exactly spec.replicas active pods per ReplicaSet.

Handlers (shared with the other pod owners, `controllers.podowner`) map every
pod event to the ReplicaSet that controls the pod (or, for an orphan, every
ReplicaSet whose selector matches it) and only enqueue keys. `reconcile`
reads the caches, adopts/releases active pods, creates or deletes the
difference under expectations (so a lagging cache never doubles a create or a
delete), and writes status only when it changed. Which pods go first on a
scale-down is `controllers.replicaset.plan.plan_replicas`' decision.
"""

from __future__ import annotations

import logging

from controllers.base import (
    selector_matcher,
)
from controllers.podowner import PodOwnerController
from controllers.replicaset.plan import (
    compute_status,
    next_availability_check,
    plan_replicas,
    pod_from_template,
)
from kubelite.api import Pod, ReplicaSet
from kubelite.api.podutil import is_pod_active
from kubelite.api.selectors import LabelMatcher

log = logging.getLogger(__name__)


class ReplicaSetController(PodOwnerController[ReplicaSet], owner=ReplicaSet):
    name = "replicaset"

    def selector(self, owner: ReplicaSet) -> LabelMatcher | None:
        return selector_matcher(owner.spec.selector)

    def claimable(self, pod: Pod) -> bool:
        """Finished and terminating pods neither count towards replicas nor get adopted."""
        return is_pod_active(pod)

    def min_ready_seconds(self, owner: ReplicaSet) -> int:
        return owner.spec.min_ready_seconds or 0

    async def reconcile(self, key: str) -> None:
        rs = self.owner_informer.store.get(key)
        if rs is None:
            self.expectations.delete(key)
            return
        # Read before claiming (as Kubernetes): an event observed meanwhile must not let this pass act twice.
        needs_sync = self.expectations.satisfied(key)
        owned = await self.claim_pods(rs)
        error: Exception | None = None
        if needs_sync and rs.metadata.deletion_timestamp is None and self.selector(rs) is not None:
            try:
                await self._manage_replicas(rs, key, owned)
            except Exception as exc:  # still write status below, then retry
                error = exc
        now = self.clock()
        if not await self.write_status(rs, rs.status, compute_status(rs, owned, now)):
            return
        if error is not None:
            raise error
        wait = next_availability_check(rs, owned, now)
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _manage_replicas(self, rs: ReplicaSet, key: str, owned: list[Pod]) -> None:
        plan = plan_replicas(rs, owned)
        if plan.create:
            await self.create_pods(rs, key, plan.create, lambda _: pod_from_template(rs))
        elif plan.delete:
            await self.delete_pods(rs, key, plan.delete)

"""The disruption controller: keeps every PodDisruptionBudget's status current.

The eviction subresource decides from this status (and decrements
`disruptionsAllowed` itself with a compare-and-swap), so the status must
follow pod readiness closely: any pod change enqueues the budgets of its
namespace whose selector matches it. Desired scale for percentages and
maxUnavailable comes from the pods' controllers (ReplicaSet, StatefulSet,
Job parallelism is not a scale and is not counted).
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.disruption.plan import compute_status, owners_scale
from kubelite.api import Pod, ReplicaSet, StatefulSet
from kubelite.api.errors import Conflict, NotFound
from kubelite.api.policy import PodDisruptionBudget, budget_selects
from kubelite.client import Informer

log = logging.getLogger(__name__)


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.budgets: Informer[PodDisruptionBudget] = ctx.factory.informer(PodDisruptionBudget)
        self.pods: Informer[Pod] = ctx.factory.informer(Pod)
        self.replica_sets: Informer[ReplicaSet] = ctx.factory.informer(ReplicaSet)
        self.stateful_sets: Informer[StatefulSet] = ctx.factory.informer(StatefulSet)
        self.budgets.add_handlers(self.enqueue, lambda _old, new: self.enqueue(new))
        self.pods.add_handlers(self._pod_changed, lambda _old, new: self._pod_changed(new), self._pod_changed)

    def _pod_changed(self, pod: Pod) -> None:
        for pdb in self.budgets.store.list():
            if pdb.metadata.namespace != pod.metadata.namespace:
                continue
            if budget_selects(pdb, pod.metadata.labels):
                self.enqueue(pdb)

    def _replicas(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rs in self.replica_sets.store.list():
            out[rs.metadata.uid or ""] = 1 if rs.spec.replicas is None else rs.spec.replicas
        for sts in self.stateful_sets.store.list():
            out[sts.metadata.uid or ""] = 1 if sts.spec.replicas is None else sts.spec.replicas
        return out

    async def reconcile(self, key: str) -> None:
        pdb = self.budgets.store.get(key)
        if pdb is None or pdb.metadata.deletion_timestamp is not None:
            return
        pods = [p for p in self.pods.store.list()
                if p.metadata.namespace == pdb.metadata.namespace and budget_selects(pdb, p.metadata.labels)
                and p.status.phase not in ("Succeeded", "Failed")]
        status = compute_status(pdb, pods, owners_scale(pods, self._replicas()), self.clock())
        if status.to_dict() == pdb.status.to_dict():
            return
        fresh = pdb.model_copy(deep=True)
        fresh.status = status
        try:
            await self.client.update_status(fresh)
        except NotFound:
            return
        except Conflict:
            self.enqueue_key(key)  # an eviction decremented it meanwhile: recompute from the newer copy

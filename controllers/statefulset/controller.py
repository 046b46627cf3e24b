"""The StatefulSet controller: pods with stable names, ordered start/stop, per-ordinal claims.

Handlers only enqueue keys. `reconcile` claims the set's pods, asks
`controllers.statefulset.plan.plan` for the next step (create ordinals, delete
failed/condemned/outdated pods), performs it under expectations, and writes
status only when it changed. Pods are created with their final names, so the
apiserver itself refuses a second pod for an ordinal; an AlreadyExists answer
just means the cache is behind.
"""

from __future__ import annotations

import asyncio
import logging

from controllers.base import ControllerContext, raise_first, selector_matcher
from controllers.podowner import PodOwnerController
from controllers.statefulset.plan import (
    claims_for,
    compute_status,
    is_terminating,
    new_pod,
    plan,
    pod_revision,
    revision_for,
    revision_name,
)
from kubelite.api import Pod, StatefulSet
from kubelite.api.errors import AlreadyExists
from kubelite.api.selectors import LabelMatcher
from kubelite.api.storage import PersistentVolumeClaim
from kubelite.client import Informer

log = logging.getLogger(__name__)


class StatefulSetController(PodOwnerController[StatefulSet], owner=StatefulSet):
    name = "statefulset"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.claims: Informer[PersistentVolumeClaim] = ctx.factory.informer(PersistentVolumeClaim)

    def selector(self, owner: StatefulSet) -> LabelMatcher | None:
        return selector_matcher(owner.spec.selector)

    async def reconcile(self, key: str) -> None:
        sts = self.owner_informer.store.get(key)
        if sts is None:
            self.expectations.delete(key)
            return
        pods = await self.claim_pods(sts)
        update_revision = revision_name(sts)
        current_revision = sts.status.current_revision or update_revision
        error: Exception | None = None
        if sts.metadata.deletion_timestamp is None and self.expectations.satisfied(key):
            try:
                await self._manage(sts, key, pods, current_revision, update_revision)
            except Exception as exc:  # still write status below, then retry
                error = exc
        status = compute_status(sts, pods, current_revision, update_revision, self.clock())
        await self.write_status(sts, sts.status, status)
        if error is not None:
            raise error

    async def _manage(self, sts: StatefulSet, key: str, pods: list[Pod], current_revision: str,
                      update_revision: str) -> None:
        step = plan(sts, pods, update_revision)
        if step.waiting_for:
            log.debug("statefulset waiting", extra={"statefulset": key, "for": step.waiting_for})
        if step.delete:
            await self.delete_pods(sts, key, step.delete)
        if step.create:
            old_source = next((p for p in pods if pod_revision(p) == current_revision and not is_terminating(p)),
                              None)
            self.expectations.expect_creations(key, len(step.create))
            creations = []
            for ordinal in step.create:
                revision = revision_for(sts, ordinal, current_revision, update_revision)
                source = old_source if revision != update_revision else None
                if revision != update_revision and source is None:
                    revision = update_revision  # no sibling left to copy the old template from
                creations.append(self._create(sts, key, new_pod(sts, ordinal, revision, source)))
            raise_first(await asyncio.gather(*creations, return_exceptions=True))

    async def _ensure_claims(self, sts: StatefulSet, ordinal: int) -> None:
        """Create the ordinal's missing claims (existing ones are reused: that is how data comes back)."""
        for claim in claims_for(sts, ordinal):
            if self.claims.store.get(f"{claim.metadata.namespace}/{claim.metadata.name}") is not None:
                continue
            try:
                await self.client.create(claim)
                log.info("created claim", extra={"statefulset": sts.metadata.name, "claim": claim.metadata.name})
            except AlreadyExists:
                pass

    async def _create(self, sts: StatefulSet, key: str, pod: Pod) -> None:
        try:
            ordinal = int((pod.metadata.name or "").rsplit("-", 1)[1])
            await self._ensure_claims(sts, ordinal)
        except Exception:
            self.expectations.creation_observed(key)  # no pod will come for this expectation
            raise
        try:
            await self.create_pod(sts, key, pod)
        except AlreadyExists:
            pass  # our cache is behind (or the predecessor still terminates): the next event requeues

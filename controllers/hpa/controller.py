"""The horizontal pod autoscaler controller: every sync period, each HPA's target is resized to
what its pods' resource usage calls for.

Why it reads the metrics API and acts through `/scale`, like Kubernetes: the metrics
come from the one place `kctl top` reads them (so what a user sees is what the
controller decided on), and `/scale` works the same for Deployments, ReplicaSets and
StatefulSets, changing only `spec.replicas`. The decision itself is the pure
`plan` (algorithm and behavior) fed by `samples` (which pods count and how).

Recommendations and recent scale changes (for stabilization windows and rate
limits) are kept in memory per HPA, as Kubernetes does: after a controller-manager
restart the windows start empty.
"""

from __future__ import annotations

import logging
from typing import Any

from controllers.base import Controller, ControllerContext
from controllers.hpa import samples
from controllers.hpa.plan import History, MetricTarget, plan, propose, record
from controllers.informers import NAMESPACE_INDEX
from kubelite.api import Pod
from kubelite.api.autoscaling import SCALABLE_KINDS, HorizontalPodAutoscaler
from kubelite.api.errors import ApiError, BadRequest, Conflict, NotFound
from kubelite.api.selectors import parse_label_selector
from kubelite.client import Informer

log = logging.getLogger(__name__)

DEFAULT_SYNC_SECONDS = 15.0
METRICS_RESOURCE = "pods.metrics.k8s.io"


class HorizontalPodAutoscalerController(Controller):
    name = "horizontalpodautoscaling"

    def __init__(self, ctx: ControllerContext, sync_seconds: float = DEFAULT_SYNC_SECONDS) -> None:
        super().__init__(ctx)
        self.sync_seconds = sync_seconds
        self.recorder = self.own_recorder()
        self.hpas: Informer[HorizontalPodAutoscaler] = ctx.factory.informer(HorizontalPodAutoscaler)
        self.pods: Informer[Pod] = ctx.factory.informer(Pod)
        self.hpas.add_handlers(on_add=self.enqueue, on_update=self._updated, on_delete=self._deleted)
        self.history: dict[str, History] = {}

    def _updated(self, old: HorizontalPodAutoscaler, new: HorizontalPodAutoscaler) -> None:
        if old.spec != new.spec:  # status writes (our own) wait for the next period
            self.enqueue(new)

    def _deleted(self, hpa: HorizontalPodAutoscaler) -> None:
        self.history.pop(f"{hpa.metadata.namespace}/{hpa.metadata.name}", None)

    async def reconcile(self, key: str) -> None:
        hpa = self.hpas.store.get(key)
        if hpa is None or hpa.metadata.deletion_timestamp is not None:
            self.history.pop(key, None)
            return
        try:
            await self._sync(key, hpa)
        finally:
            self.queue.add_after(key, self.sync_seconds)

    async def _sync(self, key: str, hpa: HorizontalPodAutoscaler) -> None:
        ns = hpa.metadata.namespace or "default"
        ref = hpa.spec.scale_target_ref
        resource = SCALABLE_KINDS.get(ref.kind, "")
        now = self.clock()
        try:
            scale = await self.client.read_unstored(f"{resource}/scale", ns, ref.name)
        except ApiError as err:
            message = f"the HPA controller was unable to get the target's current scale: {err.message}"
            self.recorder.event(hpa, "Warning", "FailedGetScale", message)
            await self._write(hpa, samples.Outcome(hpa.status.current_replicas, hpa.status.desired_replicas, [], [],
                                                   able=("False", "FailedGetScale", message)), False)
            return
        current = int((scale[0].get("spec") or {}).get("replicas") or 0)
        if current == 0 and (hpa.spec.min_replicas or 1) > 0:
            await self._write(hpa, samples.Outcome(0, 0, [], [], active=(
                "False", "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")),
                False)
            return
        outcome = samples.out_of_bounds(current, hpa.spec.min_replicas or 1, hpa.spec.max_replicas) or \
            await self._decide(key, hpa, ns, str((scale[0].get("status") or {}).get("selector") or ""), current)
        rescaled = False
        if outcome.desired != current and outcome.active[0] == "True":
            rescaled = await self._rescale(hpa, resource, ns, scale[0], outcome)
            if rescaled:
                record(self.history.setdefault(key, History()), now.timestamp(), current, outcome.desired)
            else:
                outcome = samples.Outcome(current, outcome.desired, outcome.proposals, outcome.metrics,
                                          outcome.limited, ("False", "FailedUpdateScale",
                                                            "the HPA controller was unable to update the target scale"))
        await self._write(hpa, outcome, rescaled)

    async def _decide(self, key: str, hpa: HorizontalPodAutoscaler, ns: str, selector: str,
                      current: int) -> samples.Outcome:
        now = self.clock()
        try:
            matcher = parse_label_selector(selector) if selector else None
        except BadRequest:
            matcher = None
        if matcher is None:
            message = f"the target's selector {selector!r} cannot select pods"
            self.recorder.event(hpa, "Warning", "InvalidSelector", message)
            return samples.Outcome(current, current, [], [], active=("False", "InvalidSelector", message))
        pods = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, ns) if matcher.matches(p.metadata.labels)]
        try:
            listed = await self.client.read_unstored(METRICS_RESOURCE, ns, label_selector=selector)
        except ApiError as err:
            listed = []
            log.warning("cannot read pod metrics", extra={"hpa": key, "error": err.message})
        metrics: dict[str, dict[str, Any]] = {str((m.get("metadata") or {}).get("name")): m for m in listed}
        targets: list[MetricTarget] = [t for t in map(samples.metric_target, hpa.spec.metrics) if t is not None]
        proposals, statuses = [], []
        for target in targets:
            pod_samples = samples.samples(pods, metrics, target.resource, now)
            proposals.append(propose(target, current, pod_samples))
            found = samples.metric_status(target, pod_samples)
            if found is not None:
                statuses.append(found)
        valid = [p for p in proposals if not p.error]
        if not valid:
            errors = "; ".join(p.error for p in proposals) or "no metrics to scale on"
            message = f"the HPA was unable to compute the replica count: {errors}"
            self.recorder.event(hpa, "Warning", "FailedGetResourceMetric", message)
            return samples.Outcome(current, current, proposals, statuses,
                                   active=("False", "FailedGetResourceMetric", message))
        up, down = samples.behavior_rules(hpa)
        wanted = max(p.replicas for p in valid)
        history = self.history.setdefault(key, History())
        decision = plan(history, now.timestamp(), current, [wanted], hpa.spec.min_replicas or 1,
                        hpa.spec.max_replicas, up, down)
        outcome = samples.Outcome(current, decision.replicas, proposals, statuses, decision.limited)
        if decision.replicas != current:
            return samples.Outcome(current, decision.replicas, proposals, statuses, decision.limited,
                                   ("True", "SucceededRescale", "the HPA controller was able to update the target "
                                    f"scale to {decision.replicas}"))
        if wanted < current and not decision.limited:
            return samples.Outcome(current, current, proposals, statuses, decision.limited, (
                "True", "ScaleDownStabilized", "recent recommendations were higher than current one, applying the "
                "highest recent recommendation"))
        return outcome

    async def _rescale(self, hpa: HorizontalPodAutoscaler, resource: str, ns: str, scale: dict[str, Any],
                       outcome: samples.Outcome) -> bool:
        targets = [t for t in map(samples.metric_target, hpa.spec.metrics) if t is not None]
        new_scale = {**scale, "spec": {**(scale.get("spec") or {}), "replicas": outcome.desired}}
        try:
            await self.client.update_subresource_raw(resource, "scale", new_scale, ns)
        except (Conflict, NotFound) as err:
            self.recorder.event(hpa, "Warning", "FailedRescale",
                                f"New size: {outcome.desired}; error: {err.message}")
            return False
        reason = outcome.reason or (samples.rescale_reason(targets, outcome.proposals, outcome.desired)
                                    if outcome.desired > outcome.current else "All metrics below target")
        self.recorder.event(hpa, "Normal", "SuccessfulRescale", f"New size: {outcome.desired}; reason: {reason}")
        log.info("rescaled", extra={"hpa": f"{ns}/{hpa.metadata.name}", "target": f"{resource}/{scale['metadata']['name']}",
                                    "from_replicas": outcome.current, "to_replicas": outcome.desired})
        return True

    async def _write(self, hpa: HorizontalPodAutoscaler, outcome: samples.Outcome, rescaled: bool) -> None:
        status = samples.new_status(hpa, outcome, self.clock(), rescaled)
        if status.to_dict() == hpa.status.to_dict():
            return
        fresh = hpa.model_copy(deep=True)
        fresh.status = status
        try:
            await self.client.update_status(fresh)
        except (NotFound, Conflict):
            return  # deleted, or changed meanwhile: the next period writes a fresher status

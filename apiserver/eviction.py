"""Evicting a pod: the delete a PodDisruptionBudget may refuse (HTTP `pods/eviction` and the gRPC path).

Why here and not in a controller: the decision and the budget's bookkeeping
must be one atomic step, or two concurrent evictions (a drain of two nodes)
could both see `disruptionsAllowed: 1` and both delete. As in Kubernetes, the
budget's status is updated with a compare-and-swap on its resourceVersion --
`disruptionsAllowed` decremented and the pod recorded in `disruptedPods` --
and only after that write succeeds is the pod deleted; a concurrent writer
makes the swap fail, the budget is re-read and the decision taken again.

Rules: a pod that is Pending, terminal or being deleted, or that no budget
selects, is simply deleted. A pod selected by more than one budget cannot be
evicted (500, as Kubernetes). An unhealthy (not Ready) pod may be evicted when
the budget is currently met (`IfHealthyBudget`) or always (`AlwaysAllow`)
without using up a disruption. Otherwise the budget must allow a disruption,
else 429 TooManyRequests naming the budget; clients (kubectl drain) retry.
"""

from __future__ import annotations

import json
from typing import Any

from apiserver import objects
from apiserver.options import DeleteOptions
from apiserver.service import ResourceService
from kubelite.api import Pod, registry
from kubelite.api.errors import BadRequest, InternalError, NotFound, StatusCause, TooManyRequests
from kubelite.api.meta import Resource
from kubelite.api.podutil import is_pod_ready
from kubelite.api.policy import PodDisruptionBudget, budget_selects, eviction_denial
from kubelite.api.timeutil import now

VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
MAX_DISRUPTED_PODS = 2000


def _budgets_for(service: ResourceService, pod: Pod) -> list[PodDisruptionBudget]:
    ns = pod.metadata.namespace or "default"
    out = []
    for cached in service.caches["poddisruptionbudgets"].store.values():
        if cached.namespace != ns:
            continue
        pdb = PodDisruptionBudget.from_dict(cached.obj)
        if budget_selects(pdb, pod.metadata.labels):
            out.append(pdb)
    return out


def _refuse(message: str) -> TooManyRequests:
    return TooManyRequests(f"{VIOLATION} {message}", [StatusCause("", message, "DisruptionBudget")])


async def _take_disruption(service: ResourceService, pdb: PodDisruptionBudget, pod_name: str) -> None:
    """Decrement the budget's disruptionsAllowed (compare-and-swap) or raise 429."""
    info = registry.lookup("poddisruptionbudgets")

    def mutate(obj: Resource) -> Resource:
        assert isinstance(obj, PodDisruptionBudget)
        denial = eviction_denial(obj)
        if denial is not None:
            raise _refuse(denial)
        if len(obj.status.disrupted_pods) >= MAX_DISRUPTED_PODS:
            raise _refuse(f"The disruption budget {obj.metadata.name} has too many evictions in flight")
        obj.status.disruptions_allowed -= 1
        obj.status.disrupted_pods[pod_name] = now()
        return obj

    await service.guaranteed_update(info, pdb.metadata.namespace or "default", pdb.metadata.name or "", None,
                                    mutate)


async def evict_pod(service: ResourceService, namespace: str, name: str, options: DeleteOptions) -> None:
    """Delete pod `namespace/name` if its disruption budget allows it (see the module docstring)."""
    info = registry.lookup("pods")
    current = await service.read(info, namespace, name)
    if current is None:
        raise NotFound.for_object("pods", name)
    pod = Pod.from_dict(current.obj)
    # A failed uid precondition is reported by the delete below, in Kubernetes' wording.
    uid_ok = not options.precondition_uid or pod.metadata.uid == options.precondition_uid
    # Finished, not yet started (Pending) or already deleting: no budget counts it, as in Kubernetes.
    counted = pod.status.phase not in (None, "Pending", "Succeeded", "Failed") and pod.metadata.deletion_timestamp is None
    if uid_ok and counted:
        await _check_budgets(service, pod, options)
    await service.delete("pods", namespace, name, options)


async def _check_budgets(service: ResourceService, pod: Pod, options: DeleteOptions) -> None:
    budgets = _budgets_for(service, pod)
    if not budgets:
        return
    if len(budgets) > 1:
        names = ", ".join(sorted(b.metadata.name or "" for b in budgets))
        raise InternalError("This pod has more than one PodDisruptionBudget, which the eviction subresource "
                            f"does not support ({names}).")
    pdb = budgets[0]
    if not (pod.status.phase == "Running" and is_pod_ready(pod)):
        policy = pdb.spec.unhealthy_pod_eviction_policy or "IfHealthyBudget"
        if policy == "AlwaysAllow" or pdb.status.current_healthy >= pdb.status.desired_healthy:
            return  # an unhealthy pod counts for nothing while the budget is met
    if options.dry_run:
        denial = eviction_denial(pdb)
        if denial is not None:
            raise _refuse(denial)
        return
    await _take_disruption(service, pdb, pod.metadata.name or "")


EVICTION_VERSIONS = ("policy/v1", "policy/v1beta1")


def check_eviction(body: Any, name: str, namespace: str) -> dict[str, Any]:
    """The Eviction's `deleteOptions` (BadRequest naming what is wrong with the body)."""
    if not isinstance(body, dict):
        raise BadRequest("the body of an eviction must be a policy/v1 Eviction object")
    if body.get("kind", "Eviction") != "Eviction" or body.get("apiVersion", "policy/v1") not in EVICTION_VERSIONS:
        raise BadRequest(f'the body of an eviction must be a policy/v1 Eviction, got kind '
                         f'{body.get("kind")!r} apiVersion {body.get("apiVersion")!r}')
    meta = body.get("metadata") or {}
    if not isinstance(meta, dict):
        raise BadRequest("metadata of an Eviction must be an object")
    if meta.get("name") not in (None, "", name):
        raise BadRequest(f'name in URL does not match name in Eviction object: "{name}" != '
                         f'"{meta.get("name")}"')
    if meta.get("namespace") not in (None, "", namespace):
        raise BadRequest(f'namespace in URL does not match namespace in Eviction object: "{namespace}" != '
                         f'"{meta.get("namespace")}"')
    options = body.get("deleteOptions") or {}
    if not isinstance(options, dict):
        raise BadRequest("deleteOptions of an Eviction must be an object")
    return options


EVICTION_SUBRESOURCE = "pods/eviction"


async def grpc_evict(service: ResourceService, namespace: str, body: bytes) -> bytes:
    """The gRPC form (Create of `pods/eviction`, the Eviction's metadata.name naming the pod): a Success Status."""
    from multidict import MultiDict

    from apiserver.http.handlers import ResourceHandlers

    data = objects.parse_body(body)
    meta = data.get("metadata") if isinstance(data, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise BadRequest("an Eviction must name the pod in metadata.name",
                         [StatusCause.required("metadata.name")])
    options = ResourceHandlers.delete_options(check_eviction(data, name, namespace), MultiDict())
    await evict_pod(service, namespace, name, options)
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}).encode()

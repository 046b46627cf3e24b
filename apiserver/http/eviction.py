"""`pods/eviction`: POST a `policy/v1 Eviction` to delete a pod the polite way.

Why a subresource and not a DELETE: an eviction is the delete that disruption budgets may
refuse (429 TooManyRequests), which is what `kubectl drain` and cluster autoscalers use.
kubelite has no PodDisruptionBudget kind, so no budget can refuse an eviction: it is the
pod's delete with the Eviction's `deleteOptions` (grace period, preconditions, dryRun),
answered like Kubernetes with 201 and a Success `Status`. Authorization is the request's
own (`create` on `pods/eviction`), checked before this runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiserver.http.errors import MethodNotAllowed, success_status
from apiserver.http.routing import RequestInfo
from apiserver.options import DeleteOptions
from apiserver.service import ResourceService
from kubelite.api.errors import BadRequest

EVICTION_VERSIONS = ("policy/v1", "policy/v1beta1")


async def evict(service: ResourceService, info: RequestInfo, body: Any,
                delete_options: Callable[[dict[str, Any]], DeleteOptions]) -> dict[str, Any]:
    """Delete the pod named by the request as the Eviction `body` asks; the Success Status."""
    if info.verb != "create":
        raise MethodNotAllowed("the server does not allow this method on pods/eviction: only POST (create)")
    if not isinstance(body, dict):
        raise BadRequest("the body of an eviction must be a policy/v1 Eviction object")
    if body.get("kind", "Eviction") != "Eviction" or body.get("apiVersion", "policy/v1") not in EVICTION_VERSIONS:
        raise BadRequest(f'the body of an eviction must be a policy/v1 Eviction, got kind '
                         f'{body.get("kind")!r} apiVersion {body.get("apiVersion")!r}')
    meta = body.get("metadata") or {}
    if not isinstance(meta, dict):
        raise BadRequest("metadata of an Eviction must be an object")
    if meta.get("name") not in (None, "", info.name):
        raise BadRequest(f'name in URL does not match name in Eviction object: "{info.name}" != '
                         f'"{meta.get("name")}"')
    if meta.get("namespace") not in (None, "", info.namespace):
        raise BadRequest(f'namespace in URL does not match namespace in Eviction object: "{info.namespace}" != '
                         f'"{meta.get("namespace")}"')
    options = body.get("deleteOptions") or {}
    if not isinstance(options, dict):
        raise BadRequest("deleteOptions of an Eviction must be an object")
    await service.delete("pods", info.namespace, info.name, delete_options(options))
    return success_status()

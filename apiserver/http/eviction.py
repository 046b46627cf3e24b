"""`pods/eviction`: POST a `policy/v1 Eviction` to delete a pod the polite way.

Why a subresource and not a DELETE: an eviction is the delete that disruption
budgets may refuse (429 TooManyRequests), which is what `kubectl drain` and
cluster autoscalers use. This module checks the request's shape; the budget
decision and the delete are `apiserver.eviction.evict_pod`, shared with the
gRPC path. Answered like Kubernetes with 201 and a Success `Status`.
Authorization is the request's own (`create` on `pods/eviction`), checked
before this runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiserver.eviction import check_eviction, evict_pod
from apiserver.http.errors import MethodNotAllowed, success_status
from apiserver.http.routing import RequestInfo
from apiserver.options import DeleteOptions
from apiserver.service import ResourceService


async def evict(service: ResourceService, info: RequestInfo, body: Any,
                delete_options: Callable[[dict[str, Any]], DeleteOptions]) -> dict[str, Any]:
    """Evict the pod named by the request as the Eviction `body` asks; the Success Status."""
    if info.verb != "create":
        raise MethodNotAllowed("the server does not allow this method on pods/eviction: only POST (create)")
    options = check_eviction(body, info.name, info.namespace)
    await evict_pod(service, info.namespace, info.name, delete_options(options))
    return success_status()

"""HTTP paths of the resource metrics API, where metrics-server serves them (`kubectl top` reads these).

`/apis/metrics.k8s.io/v1beta1/nodes[/NAME]` and
`/apis/metrics.k8s.io/v1beta1[/namespaces/NS]/pods[/NAME]`, read-only. Authorization has
already happened in `HttpApi.dispatch` on the request's attributes (verb get/list,
group metrics.k8s.io, resource nodes/pods), so RBAC rules for that group apply.
"""

from __future__ import annotations

from aiohttp import web

from apiserver.http.errors import MethodNotAllowed, not_found_path
from apiserver.http.handlers import json_response
from apiserver.http.routing import RequestInfo
from apiserver.metricsapi import GROUP, RESOURCES, VERSION, ResourceMetrics
from apiserver.options import ListOptions


def serves(info: RequestInfo) -> bool:
    return info.is_resource_request and info.api_group == GROUP


async def handle(request: web.Request, info: RequestInfo, metrics: ResourceMetrics | None) -> web.StreamResponse:
    if metrics is None or info.api_version != VERSION or info.resource not in RESOURCES or info.subresource:
        raise not_found_path()
    if info.namespace and not RESOURCES[info.resource][1]:
        raise not_found_path()
    if info.verb not in ("get", "list"):
        raise MethodNotAllowed(f"the server does not allow this method on the requested resource: {request.method}")
    options = ListOptions(label_selector=request.query.get("labelSelector", ""),
                          field_selector=request.query.get("fieldSelector", ""))
    return json_response(await metrics.answer(info.resource, info.namespace, info.name, options))

"""`/apis/autoscaling/v1/.../horizontalpodautoscalers`: the stored v2 objects, converted to and from v1.

Why over the v2 handlers: every verb is the same request as at v2 (bodies in v1 are
converted by the registry's decoding); only the answers are turned into v1, and a
patch is applied to the v1 form, since that is the form its author wrote it against.
Real `kubectl autoscale` (1.32) creates autoscaling/v1 objects here.
Watches are served at v2 only (what `kubectl get hpa -w` uses, v2 being preferred).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from apiserver.http import patch as patching
from apiserver.http.errors import MethodNotAllowed, UnsupportedMediaType
from apiserver.http.handlers import ResourceHandlers, json_response, parse_dry_run
from apiserver.http.routing import RequestInfo, resolve_kind
from kubelite.api import hpaconvert


def serves(info: RequestInfo) -> bool:
    return (info.is_resource_request and info.api_group == "autoscaling" and info.api_version == "v1"
            and info.resource == "horizontalpodautoscalers")


def _as_v1(response: web.StreamResponse) -> web.StreamResponse:
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes) \
            or response.content_type != "application/json":
        return response
    try:
        data = json.loads(response.body)
    except ValueError:
        return response
    if isinstance(data, dict):
        converted = hpaconvert.list_to_v1(data)
        if converted is not data:
            response.body = json.dumps(converted).encode()
    return response


async def handle(handlers: ResourceHandlers, request: web.Request, info: RequestInfo,
                 body: bytes) -> web.StreamResponse:
    stored = dataclasses.replace(info, api_version="v2")
    kind = resolve_kind(stored)
    if info.verb == "watch":
        raise MethodNotAllowed("watch horizontalpodautoscalers at autoscaling/v2 (the preferred version)")
    if info.verb != "patch":
        return _as_v1(await handlers.handle(request, stored, kind, body))
    content_type = request.headers.get("Content-Type", "")
    if patching.patch_media(content_type) == patching.APPLY_PATCH:
        raise UnsupportedMediaType("server-side apply of horizontalpodautoscalers is served at autoscaling/v2")
    document = patching.patch_document(body, content_type)
    fn = patching.patch_function(content_type, document)

    def apply(current: dict[str, Any]) -> dict[str, Any]:
        return hpaconvert.to_v2(fn(hpaconvert.to_v1(current)))

    raw = await handlers.service.patch(kind.resource, info.namespace, info.name, apply,
                                       subresource=info.subresource, dry_run=parse_dry_run(request.query))
    return json_response(hpaconvert.to_v1(json.loads(raw)))

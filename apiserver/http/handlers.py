"""The resource verbs over HTTP: get, list, create, update, patch, delete, deletecollection,
and the `status` and `scale` subresources.

Why thin: every verb is one call of the typed core (`ResourceService`), which owns
validation, defaulting, optimistic concurrency and storage; this module only reads
the query and body the Kubernetes way and shapes the answer (an object, a List, a
Table). Objects stay JSON bytes from the store to the socket where nothing needs them
decoded, so a List is assembled without re-encoding its items.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml
from aiohttp import web
from multidict import MultiMapping

from apiserver import scale
from apiserver.apply.manager import writing_as
from apiserver.fieldvalidation import FieldPolicy, parse_mode, validating
from apiserver.http import patch as patching
from apiserver.http import protobuf
from apiserver.http.apply import check_write_query, request_manager, serve_apply
from apiserver.http.binding import bind
from apiserver.http.errors import JSON, MethodNotAllowed, UnsupportedMediaType, bad_query, not_found_path
from apiserver.http.eviction import evict
from apiserver.http.routing import RequestInfo
from apiserver.http.tables import check_include_object, table, wants_table
from apiserver.http.watch import serve_watch
from apiserver.options import DeleteOptions, ListOptions
from apiserver.service import ResourceService
from kubelite.api import limits, yamlio
from kubelite.api.errors import BadRequest
from kubelite.api.registry import KindInfo
from kubelite.wire import jsoncodec

BODY_TYPES = ("application/json", "application/yaml", "")
WRITE_VERBS = frozenset({"create", "update", "patch"})


def _media(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def parse_dry_run(query: MultiMapping[str], body_values: Any = None) -> bool:
    """`dryRun=All` (query, or DeleteOptions.dryRun); any other value is rejected like Kubernetes."""
    values = list(query.getall("dryRun", []))
    if isinstance(body_values, list):
        values += [str(v) for v in body_values]
    for value in values:
        if value != "All":
            raise BadRequest(f'Invalid dry run value "{value}": supported values: "All"')
    return bool(values)


def _int_query(query: Mapping[str, str], name: str) -> int | None:
    text = query.get(name, "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise bad_query(name, text, "must be an integer") from None


def decode_document(raw: bytes, content_type: str, what: str = "body") -> Any:
    """The request body as JSON data (YAML and Kubernetes protobuf accepted like Kubernetes)."""
    media = content_type.split(";")[0].strip().lower()
    if media == protobuf.MEDIA_TYPE:
        return protobuf.decode(raw)
    if media not in BODY_TYPES:
        raise UnsupportedMediaType(
            f'the body of the request was in an unknown format - accepted media types include: '
            f'application/json, application/yaml, {protobuf.MEDIA_TYPE} (got "{media}")')
    if media == "application/yaml" and limits.yaml_nesting_error(raw):
        raise BadRequest(f"the {what} of the request is not valid: {limits.TOO_DEEP}")
    try:
        data = yamlio.safe_load(raw) if media == "application/yaml" else jsoncodec.loads(raw)
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadRequest(f"the {what} of the request is not valid {media or 'JSON'}: {exc}") from None
    except RecursionError:
        raise BadRequest(f"the {what} of the request is not valid: {limits.TOO_DEEP}") from None
    too_deep = limits.shape_error(data)  # before json.dumps or validation recurse into it
    if too_deep:
        raise BadRequest(f"the {what} of the request is not valid: {too_deep}")
    return data


def object_body(raw: bytes, content_type: str) -> bytes:
    """A create/update body as JSON bytes for the core."""
    if not raw:
        raise BadRequest("the request body is empty: an object is required")
    data = decode_document(raw, content_type)
    if not isinstance(data, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type(data).__name__}")
    return jsoncodec.dumps(data)


def json_response(body: bytes | dict[str, Any], status: int = 200) -> web.Response:
    raw = body if isinstance(body, bytes) else jsoncodec.dumps(body)
    return web.Response(status=status, body=raw, content_type=JSON)


class ResourceHandlers:
    """Serves one resource request, already parsed into `RequestInfo` and resolved to a kind."""

    def __init__(self, service: ResourceService) -> None:
        self.service = service

    async def handle(self, request: web.Request, info: RequestInfo, kind: KindInfo, body: bytes) -> web.StreamResponse:
        if info.verb not in WRITE_VERBS:
            return await self._serve(request, info, kind, body)
        apply = info.verb == "patch" and _media(request) == patching.APPLY_PATCH
        check_write_query(request.query, info.verb, apply=apply)
        response: web.StreamResponse
        with validating(FieldPolicy(parse_mode(request.query.get("fieldValidation", "")))) as policy:
            if apply:
                raw, code = await serve_apply(self.service, request.query, info, kind, body,
                                              dry_run=parse_dry_run(request.query))
                response = json_response(raw, code)
            else:
                with writing_as(request_manager(request.query, request.headers, info)):
                    response = await self._serve(request, info, kind, body)
        for warning in policy.warnings():
            response.headers.add("Warning", warning)
        return response

    async def _serve(self, request: web.Request, info: RequestInfo, kind: KindInfo, body: bytes) -> web.StreamResponse:
        sub = info.subresource
        if sub == "scale":
            return await self._scale(request, info, kind, body)
        if sub in ("status", "approval") and info.verb not in ("get", "update", "patch"):
            raise MethodNotAllowed(f"the server does not allow this method on {kind.resource}/{sub}")
        if sub == "binding":
            data = None if info.verb != "create" else \
                decode_document(body, request.headers.get("Content-Type", ""), "Binding")
            return json_response(await bind(self.service, info, data), 201)
        if sub == "eviction":
            data = None if info.verb != "create" else \
                decode_document(body, request.headers.get("Content-Type", ""), "Eviction")
            return json_response(await evict(self.service, info, data,
                                             lambda opts: self.delete_options(opts, request.query)), 201)
        if info.verb == "get":
            return self._object(request, kind, await self.service.get(kind.resource, info.namespace, info.name))
        if info.verb == "list":
            return await self._list(request, info, kind)
        if info.verb == "watch":
            as_table = wants_table(request.headers.get("Accept", ""))
            include = check_include_object(request.query.get("includeObject", ""))
            return await serve_watch(request, self.service, kind, info.namespace, as_table=as_table,
                                     include_object=include)
        if info.verb == "create":
            if info.name:
                raise MethodNotAllowed(f"POST is not allowed on a named {kind.singular}")
            dry = parse_dry_run(request.query)
            created = await self.service.create(kind.resource, info.namespace,
                                                object_body(body, request.headers.get("Content-Type", "")), dry_run=dry)
            return json_response(created, 201)
        if info.verb == "update":
            dry = parse_dry_run(request.query)
            raw = object_body(body, request.headers.get("Content-Type", ""))
            if sub:
                return json_response(await self.service.update_status(
                    kind.resource, info.namespace, info.name, raw, dry_run=dry, subresource=sub))
            return json_response(await self.service.update(kind.resource, info.namespace, info.name, raw, dry_run=dry))
        if info.verb == "patch":
            content_type = request.headers.get("Content-Type", "")
            fn = patching.patch_function(content_type, patching.patch_document(body, content_type),
                                         strategic=kind.custom is None)
            return json_response(await self.service.patch(
                kind.resource, info.namespace, info.name, fn, subresource=sub,
                dry_run=parse_dry_run(request.query)))
        if info.verb == "delete":
            return json_response(await self.service.delete(
                kind.resource, info.namespace, info.name, self._delete_options(request, body)))
        if info.verb == "deletecollection":
            return await self._delete_collection(request, info, kind, body)
        raise not_found_path()

    def _object(self, request: web.Request, kind: KindInfo, raw: bytes) -> web.Response:
        if not wants_table(request.headers.get("Accept", "")):
            return json_response(raw)
        obj = json.loads(raw)
        include = check_include_object(request.query.get("includeObject", ""))
        rv = str(obj.get("metadata", {}).get("resourceVersion", ""))
        return json_response(table(kind.kind, [obj], include_object=include, resource_version=rv,
                                   custom=kind.custom))

    async def _list(self, request: web.Request, info: RequestInfo, kind: KindInfo) -> web.Response:
        query = request.query
        limit = _int_query(query, "limit") or 0
        if query.get("resourceVersionMatch", "") not in ("", "NotOlderThan"):
            raise BadRequest("resourceVersionMatch=Exact is not supported; lists are served from the "
                             "current state (NotOlderThan)")
        options = ListOptions(label_selector=query.get("labelSelector", ""),
                              field_selector=query.get("fieldSelector", ""), limit=limit,
                              continue_token=query.get("continue", ""))
        result = await self.service.list(kind.resource, info.namespace, options)
        if wants_table(request.headers.get("Accept", "")):
            include = check_include_object(query.get("includeObject", ""))
            objs = [json.loads(item) for item in result.items]
            return json_response(table(kind.kind, objs, include_object=include,
                                       resource_version=result.resource_version,
                                       continue_token=result.continue_token, custom=kind.custom))
        meta: dict[str, Any] = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
        head = json.dumps({"kind": kind.list_kind, "apiVersion": kind.api_version, "metadata": meta})
        raw = head[:-1].encode() + b',"items":[' + b",".join(result.items) + b"]}"
        return json_response(raw)

    @staticmethod
    def _delete_options(request: web.Request, body: bytes) -> DeleteOptions:
        """From a DELETE's body and the query, like Kubernetes."""
        data: dict[str, Any] = {}
        if body.strip():
            parsed = decode_document(body, request.headers.get("Content-Type", ""), "DeleteOptions")
            if parsed is not None and not isinstance(parsed, dict):
                raise BadRequest("DeleteOptions must be a JSON object")
            data = parsed or {}
        return ResourceHandlers.delete_options(data, request.query)

    @staticmethod
    def delete_options(data: dict[str, Any], query: MultiMapping[str]) -> DeleteOptions:
        """`DeleteOptions` from its JSON (a DELETE body, an Eviction's deleteOptions) and the query."""
        grace = data.get("gracePeriodSeconds")
        if grace is None:
            grace = _int_query(query, "gracePeriodSeconds")
        if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
            raise BadRequest("gracePeriodSeconds must be an integer")
        orphan = data.get("orphanDependents")
        policy = data.get("propagationPolicy") or query.get("propagationPolicy", "")
        if not policy and (orphan is True or query.get("orphanDependents") == "true"):
            policy = "Orphan"
        pre = data.get("preconditions") or {}
        if not isinstance(pre, dict):
            raise BadRequest("preconditions must be an object")
        return DeleteOptions(grace_period_seconds=grace, propagation_policy=str(policy),
                             precondition_uid=str(pre.get("uid") or ""),
                             precondition_resource_version=str(pre.get("resourceVersion") or ""),
                             dry_run=parse_dry_run(query, data.get("dryRun")))

    async def _delete_collection(self, request: web.Request, info: RequestInfo, kind: KindInfo,
                                 body: bytes) -> web.Response:
        options = self._delete_options(request, body)
        listed = await self.service.list(kind.resource, info.namespace, ListOptions(
            label_selector=request.query.get("labelSelector", ""),
            field_selector=request.query.get("fieldSelector", "")))
        deleted = []
        for raw in listed.items:
            meta = json.loads(raw).get("metadata", {})
            deleted.append(await self.service.delete(kind.resource, meta.get("namespace", ""), meta["name"],
                                                     options))
        head = json.dumps({"kind": kind.list_kind, "apiVersion": kind.api_version, "metadata": {}})
        return json_response(head[:-1].encode() + b',"items":[' + b",".join(deleted) + b"]}")

    # ---- scale -----------------------------------------------------------------------------

    scale_of = staticmethod(scale.scale_of)

    async def _scale(self, request: web.Request, info: RequestInfo, kind: KindInfo, body: bytes) -> web.Response:
        if info.verb == "get":
            return json_response(await scale.get_scale(self.service, kind, info.namespace, info.name))
        if info.verb == "update":
            wanted = decode_document(body, request.headers.get("Content-Type", ""))
            change = scale.replace_with(wanted)
        elif info.verb == "patch":
            content_type = request.headers.get("Content-Type", "")
            change = patching.patch_function(content_type, patching.patch_document(body, content_type))
        else:
            raise MethodNotAllowed(f"the server does not allow this method on {kind.resource}/scale")
        return json_response(await scale.update_scale(self.service, kind, info.namespace, info.name, change,
                                                      dry_run=parse_dry_run(request.query)))

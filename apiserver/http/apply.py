"""Server-side apply over HTTP (PATCH `application/apply-patch+yaml`) and the field manager
of every write request.

Why here and not in patch.py: an apply is not a function of the current object alone --
it needs the manager, `force`, and the object's ownership, and it creates the object when
it is absent -- so it is served next to the other verbs, over `ResourceService.patch`
(whose compare-and-swap loop re-runs the merge on a race) and `ResourceService.create`.
The merge rules are the pure `apiserver.apply.merge`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from apiserver.apply import merge
from apiserver.apply.manager import WriteManager, check_manager, from_user_agent, writing_as
from apiserver.fieldvalidation import parse_mode
from apiserver.http.routing import TRUE, RequestInfo
from apiserver.service import ResourceService
from kubelite.api import limits, yamlio
from kubelite.api.errors import AlreadyExists, BadRequest, NotFound
from kubelite.api.registry import KindInfo
from kubelite.api.timeutil import now

CREATE_ATTEMPTS = 3


def request_manager(query: Mapping[str, str], headers: Mapping[str, str], info: RequestInfo) -> WriteManager:
    """The manager of a write: `fieldManager`, else derived from the User-Agent like Kubernetes."""
    name = query.get("fieldManager", "")
    if not name:
        name = from_user_agent(headers.get("User-Agent", ""))
    return WriteManager(check_manager(name), subresource=info.subresource)


def check_write_query(query: Mapping[str, str], verb: str, *, apply: bool) -> None:
    """`force` only on apply (a PATCH option: other verbs have no such option and ignore it);
    `fieldValidation` one of Kubernetes' values (see `apiserver.fieldvalidation`)."""
    parse_mode(query.get("fieldValidation", ""))
    if "force" in query and verb == "patch" and not apply:
        raise BadRequest("force is only allowed for apply requests (application/apply-patch+yaml)")


def _config(body: bytes, kind: KindInfo, info: RequestInfo) -> dict[str, Any]:
    """The applied configuration: a YAML (or JSON) object naming this kind and object."""
    if not body.strip():
        raise BadRequest("the apply configuration is empty: an object is required")
    bad_shape = limits.yaml_nesting_error(body)
    try:
        data = None if bad_shape else yamlio.safe_load(body)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the apply configuration is not valid YAML or JSON: {exc}") from None
    except RecursionError:
        bad_shape = limits.TOO_DEEP
    bad_shape = bad_shape or limits.shape_error(data)
    if bad_shape:
        raise BadRequest(f"the apply configuration is not valid: {bad_shape}")
    if not isinstance(data, dict):
        raise BadRequest(f"the apply configuration must be an object, got {type(data).__name__}")
    if data.get("apiVersion") != kind.api_version or data.get("kind") != kind.kind:
        raise BadRequest(f"the apply configuration must have apiVersion {kind.api_version!r} and kind "
                         f"{kind.kind!r} (got {data.get('apiVersion')!r}, {data.get('kind')!r})")
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        raise BadRequest("the apply configuration needs metadata.name")
    if meta.get("name") not in (None, info.name):
        raise BadRequest(f'the name of the object ("{meta.get("name")}") does not match the name on the '
                         f'request ("{info.name}")')
    meta["name"] = info.name
    meta.pop("managedFields", None)  # ownership is computed, never taken from the configuration
    return data


async def serve_apply(service: ResourceService, query: Mapping[str, str], info: RequestInfo, kind: KindInfo,
                      body: bytes, *, dry_run: bool) -> tuple[bytes, int]:
    """Apply `body` as manager `fieldManager`: (the object's JSON, 200 or 201 when created)."""
    check_write_query(query, "patch", apply=True)
    name = query.get("fieldManager", "")
    if not name:
        raise BadRequest("PATCH requests with apply-patch+yaml content type must specify fieldManager "
                         "(fieldManager is required for apply requests)")
    force = query.get("force", "") in TRUE
    config = _config(body, kind, info)
    writer = WriteManager(check_manager(name), merge.APPLY, info.subresource)

    def apply(current: dict[str, Any]) -> dict[str, Any]:
        merged, writer.applied = merge.apply(current, config, writer.name, force=force, now=now(),
                                             resource=kind.resource, name=info.name,
                                             subresource=info.subresource)
        return merged

    with writing_as(writer):
        for _ in range(CREATE_ATTEMPTS):
            try:
                return await service.patch(kind.resource, info.namespace, info.name, apply,
                                           status=info.subresource == "status", dry_run=dry_run), 200
            except NotFound:
                if info.subresource or await _exists(service, kind, info):
                    raise
            created, writer.applied = merge.apply(None, config, writer.name, force=force, now=now(),
                                                  resource=kind.resource, name=info.name)
            try:
                return await service.create(kind.resource, info.namespace, json.dumps(created).encode(),
                                            dry_run=dry_run), 201
            except AlreadyExists:
                continue  # created meanwhile: apply onto it
    raise AlreadyExists.for_object(kind.resource, info.name)


async def _exists(service: ResourceService, kind: KindInfo, info: RequestInfo) -> bool:
    try:
        await service.get(kind.resource, info.namespace, info.name)
    except NotFound:
        return False
    return True

"""OpenAPI v3: `/openapi/v3` (the index) and one document per group/version.

Why kubectl needs it: `apply`, `create -f`, `replace` and `edit` look up, per
GroupVersionKind, the PATCH operation of the kind's path (matched by its
`x-kubernetes-group-version-kind` extension) to see whether the server validates
fields itself (`fieldValidation` query parameter) and whether it advertises
strategic merge. kubelite validates strictly on the server (unknown fields are
rejected), so kubectl leaves validation to it. The PATCH request bodies
deliberately do not list `application/strategic-merge-patch+json`: the schemas
here carry no patch merge keys, and without that entry kubectl computes its
strategic patches from its own built-in types (exactly Kubernetes' merge keys),
which it then sends as strategic merge patches all the same.

Schemas are the pydantic models' JSON schemas (by JSON field name), one component
per model, with the GroupVersionKind on each top-level kind.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from apiserver.crd import openapi as custom_openapi
from apiserver.http.discovery import group_versions
from kubelite.api import registry
from kubelite.api.registry import KindInfo

REF = "#/components/schemas/{model}"
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")


def _gvk(info: KindInfo) -> list[dict[str, str]]:
    return [{"group": info.group, "version": info.version, "kind": info.kind}]


def _param(name: str, where: str = "query", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": {"type": "string"}, "uniqueItems": True}


def _ref(info: KindInfo) -> dict[str, Any]:
    return {"$ref": REF.format(model=info.model.__name__)}


def _ok(schema: dict[str, Any], code: str = "200") -> dict[str, Any]:
    return {code: {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def _operation(info: KindInfo, action: str, op_id: str, *, params: list[dict[str, Any]] | None = None,
               body: tuple[str, ...] = (), response: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id, "x-kubernetes-action": action, "x-kubernetes-group-version-kind": _gvk(info)[0],
        "parameters": params or [], "responses": _ok(response or _ref(info)),
    }
    if body:
        op["requestBody"] = {"content": {t: {"schema": _ref(info)} for t in body}, "required": True}
    return op


def _paths(info: KindInfo) -> dict[str, Any]:
    base = "/api/v1" if not info.group else f"/apis/{info.group}/{info.version}"
    scope = f"{base}/namespaces/{{namespace}}/{info.resource}" if info.namespaced else f"{base}/{info.resource}"
    ns_param = [_param("namespace", "path", True)] if info.namespaced else []
    name_params = [_param("name", "path", True), *ns_param]
    write = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
    kind = info.kind
    collection = {
        "get": _operation(info, "list", f"list{kind}", params=[*ns_param, _param("labelSelector"),
                                                              _param("fieldSelector"), _param("limit"),
                                                              _param("continue"), _param("watch")],
                          response={"type": "object"}),
        "post": _operation(info, "post", f"create{kind}", params=[*ns_param, *write], body=("application/json",)),
    }
    item = {
        "get": _operation(info, "get", f"read{kind}", params=name_params),
        "put": _operation(info, "put", f"replace{kind}", params=[*name_params, *write], body=("application/json",)),
        "patch": _operation(info, "patch", f"patch{kind}", params=[*name_params, *write, _param("force")],
                            body=_PATCH_TYPES),
        "delete": _operation(info, "delete", f"delete{kind}",
                             params=[*name_params, _param("gracePeriodSeconds"), _param("propagationPolicy")],
                             response={"type": "object"}),
    }
    return {scope: collection, f"{scope}/{{name}}": item}


def _tidy(schema: Any) -> Any:
    """A pydantic JSON schema in the shape Kubernetes publishes, which `kubectl explain` reads:
    optional fields are `anyOf [X, null]` in pydantic and just X (a `$ref` alone, or wrapped in
    `allOf` beside other keywords) in Kubernetes -- explain shows an `anyOf` as an opaque <Object>
    without its fields; `int | str` is `x-kubernetes-int-or-string`; pydantic's generated titles
    and `default: null` say nothing and are dropped."""
    if isinstance(schema, list):
        return [_tidy(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" or (key == "default" and value is None):
            continue
        if key in ("properties", "$defs"):  # maps of names to schemas: names are kept as they are
            out[key] = {name: _tidy(sub) for name, sub in value.items()}
        else:
            out[key] = _tidy(value)
    alternatives = out.pop("anyOf", None)
    if alternatives is None:
        return out
    rest = [a for a in alternatives if a != {"type": "null"}]
    if sorted(str(a.get("type")) for a in rest) == ["integer", "string"] and all(len(a) == 1 for a in rest):
        rest = [{"x-kubernetes-int-or-string": True}]
    if len(rest) != 1:
        out["anyOf"] = rest
    elif "$ref" in rest[0] and out:
        out["allOf"] = rest
    else:
        out.update(rest[0])
    return out


def _schemas(kinds: list[KindInfo]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for info in kinds:
        if info.custom is not None:
            schemas.update(custom_openapi.schemas(info, REF))
            continue
        doc = info.model.model_json_schema(by_alias=True, ref_template=REF)
        schemas.update(doc.pop("$defs", {}))
        doc["x-kubernetes-group-version-kind"] = _gvk(info)
        schemas[info.model.__name__] = doc
    return {name: _tidy(schema) for name, schema in schemas.items()}


def _key(group_version: str) -> str:
    return f"api/{group_version}" if "/" not in group_version else f"apis/{group_version}"


def documents() -> dict[str, bytes]:
    """Every group/version's document, by index key ("api/v1", "apis/apps/v1"); built once per set of kinds
    (a CRD change makes a new set)."""
    return _documents(registry.generation())


@functools.lru_cache(maxsize=2)
def _documents(generation: int) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for gv, kinds in group_versions().items():
        paths: dict[str, Any] = {}
        for info in kinds:
            paths.update(_paths(info))
        doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0-kubelite"},
               "paths": paths, "components": {"schemas": _schemas(kinds)}}
        out[_key(gv)] = json.dumps(doc, sort_keys=True).encode()
    return out


def index() -> dict[str, Any]:
    paths = {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={hashlib.sha512(doc).hexdigest()[:64].upper()}"}
             for key, doc in documents().items()}
    return {"paths": paths}

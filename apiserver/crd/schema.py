"""Is a CRD's openAPIV3Schema structural? (Kubernetes' rules, the ones kubelite relies on.)

Why enforce them: pruning, defaulting and validation (`structural`,
`validate`) walk the schema by `properties` / `items` / `additionalProperties`
and trust `type`; a schema they cannot walk -- a node without a type, `items`
as a list, a `$ref`, an unknown keyword, a `default` that fails its own schema
-- would silently accept or drop data. Such a CRD is refused with a cause per
field, at `spec.versions[i].schema.openAPIV3Schema...`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from apiserver.crd.structural import apply_defaults, prune
from apiserver.crd.validate import validate_value
from kubelite.api.errors import UNKNOWN_FIELD, StatusCause

TYPES = ("object", "array", "string", "integer", "number", "boolean")
KEYWORDS = frozenset({
    "type", "format", "title", "description", "default", "nullable", "enum", "example", "externalDocs",
    "properties", "additionalProperties", "items", "required", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
    "minProperties", "maxProperties", "allOf", "anyOf", "oneOf", "not",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string", "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
})
UNSUPPORTED = {
    "x-kubernetes-validations": "CEL validation rules are not supported by kubelite (they would not be enforced)",
    "$ref": "$ref is not allowed in CRD schemas",
}
SCALAR_NUMBERS = ("minimum", "maximum", "multipleOf")
COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")


def _forbidden(path: str, detail: str) -> StatusCause:
    return StatusCause.forbidden(path, detail)


def check_schema(schema: Any, path: str, *, root: bool = False, in_junctor: bool = False) -> Iterator[StatusCause]:
    """Every reason `schema` (at `path`) is not a structural schema kubelite can serve."""
    if not isinstance(schema, dict):
        yield StatusCause.invalid(path, schema, "must be an object (a schema)")
        return
    for key in schema:
        if key not in KEYWORDS:
            why = UNSUPPORTED.get(key)
            yield StatusCause(f"{path}.{key}", "Unsupported field" + (f": {why}" if why else ""), UNKNOWN_FIELD)
    kind = schema.get("type")
    int_or_string = bool(schema.get("x-kubernetes-int-or-string"))
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    if kind is not None and kind not in TYPES:
        yield StatusCause.not_supported(f"{path}.type", kind, TYPES)
    if kind is None and not in_junctor and not int_or_string and not preserve:
        yield StatusCause.required(f"{path}.type", "must not be empty for specified object fields")
    if root and kind not in (None, "object"):
        yield StatusCause.invalid(f"{path}.type", kind, 'must be "object" at the root')
    if int_or_string and kind is not None:
        yield _forbidden(f"{path}.type", "must be empty if x-kubernetes-int-or-string is true")
    if schema.get("properties") is not None and schema.get("additionalProperties") not in (None, False):
        yield _forbidden(f"{path}.additionalProperties", "additionalProperties and properties are mutual exclusive")
    yield from _check_keywords(schema, path)
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            yield StatusCause.invalid(f"{path}.properties", properties, "must be a map of schemas")
        else:
            for name, sub in properties.items():
                yield from check_schema(sub, f"{path}.properties[{name}]", in_junctor=in_junctor)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from check_schema(extra, f"{path}.additionalProperties", in_junctor=in_junctor)
    items = schema.get("items")
    if kind == "array" and items is None and not in_junctor:
        yield StatusCause.required(f"{path}.items", "must be specified for arrays")
    if items is not None:
        if isinstance(items, list):
            yield _forbidden(f"{path}.items", "items must be a schema object and not an array")
        else:
            yield from check_schema(items, f"{path}.items", in_junctor=in_junctor)
    for junctor in ("allOf", "anyOf", "oneOf"):
        subs = schema.get(junctor)
        if subs is not None:
            if not isinstance(subs, list):
                yield StatusCause.invalid(f"{path}.{junctor}", subs, "must be a list of schemas")
                continue
            for i, sub in enumerate(subs):
                yield from check_schema(sub, f"{path}.{junctor}[{i}]", in_junctor=True)
    if "not" in schema:
        yield from check_schema(schema["not"], f"{path}.not", in_junctor=True)
    if "default" in schema and not in_junctor:
        yield from _check_default(schema, path)


def _check_keywords(schema: dict[str, Any], path: str) -> Iterator[StatusCause]:
    for key in SCALAR_NUMBERS:
        value = schema.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            yield StatusCause.invalid(f"{path}.{key}", value, "must be a number")
    for key in COUNTS:
        value = schema.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            yield StatusCause.invalid(f"{path}.{key}", value, "must be a non-negative integer")
    pattern = schema.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern if isinstance(pattern, str) else "")
        except re.error as exc:
            yield StatusCause.invalid(f"{path}.pattern", pattern, f"must be a valid regular expression: {exc}")
        if not isinstance(pattern, str):
            yield StatusCause.invalid(f"{path}.pattern", pattern, "must be a string")
    if schema.get("enum") is not None and not isinstance(schema["enum"], list):
        yield StatusCause.invalid(f"{path}.enum", schema["enum"], "must be a list")
    required = schema.get("required")
    if required is not None and (not isinstance(required, list) or not all(isinstance(r, str) for r in required)):
        yield StatusCause.invalid(f"{path}.required", required, "must be a list of field names")
    for flag in ("nullable", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
                 "x-kubernetes-embedded-resource", "uniqueItems", "exclusiveMinimum", "exclusiveMaximum"):
        if flag in schema and not isinstance(schema[flag], bool):
            yield StatusCause.invalid(f"{path}.{flag}", schema[flag], "must be a boolean")


def _check_default(schema: dict[str, Any], path: str) -> Iterator[StatusCause]:
    """A default must survive pruning unchanged and pass its own schema (else it could never be stored)."""
    default = copy.deepcopy(schema["default"])
    pruned = prune(schema, copy.deepcopy(default))
    if pruned != default:
        yield StatusCause.invalid(f"{path}.default", default, "must not have unknown fields (they would be pruned)")
        return
    apply_defaults(schema, default)
    for cause in validate_value(schema, default, "default"):
        yield StatusCause.invalid(f"{path}.default", default, f"{cause.message}")


def schema_causes(schema: Any, path: str) -> list[StatusCause]:
    if schema is None:
        return [StatusCause.required(path, "schemas are required")]
    return list(check_schema(schema, path, root=True))


"""Validation of a custom object against its CRD's structural schema (OpenAPI v3 subset).

Why hand-written rather than a JSON-Schema library: Kubernetes' rules are not
plain JSON Schema -- `nullable`, `x-kubernetes-int-or-string`,
`x-kubernetes-preserve-unknown-fields`, `x-kubernetes-embedded-resource`, the
OpenAPI 3.0 boolean `exclusiveMinimum` -- and every error must be a
`StatusCause` naming the field path the way kubectl shows it
(`spec.replicas`, `spec.items[0].name`). The checks are pure functions of
(schema, value, path), so they are table-tested without a server.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from kubelite.api.errors import (
    INVALID,
    REQUIRED,
    TOO_LONG,
    TYPE_INVALID,
    StatusCause,
    format_value,
)

ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def type_matches(expected: str, value: Any) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer())
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _invalid(path: str, value: Any, detail: str, reason: str = INVALID) -> StatusCause:
    return StatusCause(path, f"Invalid value: {format_value(value)}: {detail}", reason)


def validate_value(schema: dict[str, Any], value: Any, path: str) -> Iterator[StatusCause]:
    """Every problem of `value` (at `path`) against `schema`, outermost first."""
    if value is None:
        if not schema.get("nullable") and (schema.get("type") or schema.get("x-kubernetes-int-or-string")):
            wanted = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
            yield _invalid(path, value, f'{path} in body must be of type {wanted}: "null"', TYPE_INVALID)
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (type_matches("integer", value) or isinstance(value, str)):
            yield _invalid(path, value, f'{path} in body must be of type integer or string: "{_type_name(value)}"',
                           TYPE_INVALID)
            return
    else:
        expected = schema.get("type")
        if isinstance(expected, str) and not type_matches(expected, value):
            yield _invalid(path, value, f'{path} in body must be of type {expected}: "{_type_name(value)}"',
                           TYPE_INVALID)
            return
    yield from _check_scalar(schema, value, path)
    if isinstance(value, dict):
        yield from _check_object(schema, value, path)
    elif isinstance(value, list):
        yield from _check_array(schema, value, path)
    for sub in schema.get("allOf") or []:
        yield from validate_value(sub, value, path)
    any_of = schema.get("anyOf")
    if any_of and all(any(True for _ in validate_value(s, value, path)) for s in any_of):
        yield _invalid(path, value, f"{path} in body must match at least one schema in anyOf")
    one_of = schema.get("oneOf")
    if one_of and sum(1 for s in one_of if not any(True for _ in validate_value(s, value, path))) != 1:
        yield _invalid(path, value, f"{path} in body must match exactly one schema in oneOf")
    negated = schema.get("not")
    if isinstance(negated, dict) and not any(True for _ in validate_value(negated, value, path)):
        yield _invalid(path, value, f"{path} in body must not match the schema in not")


def _format_error(fmt: str, value: Any) -> str | None:
    """Why `value` does not have `format` (the formats Kubernetes checks; others are free-form)."""
    if fmt in ("int32", "int64") and isinstance(value, int) and not isinstance(value, bool):
        bits = 31 if fmt == "int32" else 63
        return None if -(2 ** bits) <= value < 2 ** bits else f"must fit in {fmt}"
    if not isinstance(value, str):
        return None
    try:
        if fmt == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        elif fmt == "date":
            date.fromisoformat(value)
        elif fmt == "byte":
            base64.b64decode(value, validate=True)
        elif fmt == "uuid":
            uuid.UUID(value)
    except (ValueError, binascii.Error):
        return f"must be of format {fmt}"
    return None


def _check_scalar(schema: dict[str, Any], value: Any, path: str) -> Iterator[StatusCause]:
    fmt = schema.get("format")
    problem = _format_error(fmt, value) if isinstance(fmt, str) else None
    if problem:
        yield _invalid(path, value, f"{path} in body {problem}")
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        supported = ", ".join(format_value(v) for v in enum)
        yield StatusCause(path, f"Unsupported value: {format_value(value)}: supported values: {supported}",
                          "FieldValueNotSupported")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        if minimum is not None:
            if schema.get("exclusiveMinimum") and value <= minimum:
                yield _invalid(path, value, f"{path} in body should be greater than {minimum}")
            elif value < minimum:
                yield _invalid(path, value, f"{path} in body should be greater than or equal to {minimum}")
        if maximum is not None:
            if schema.get("exclusiveMaximum") and value >= maximum:
                yield _invalid(path, value, f"{path} in body should be less than {maximum}")
            elif value > maximum:
                yield _invalid(path, value, f"{path} in body should be less than or equal to {maximum}")
        multiple = schema.get("multipleOf")
        if multiple and (value / multiple) != int(value / multiple):
            yield _invalid(path, value, f"{path} in body should be a multiple of {multiple}")
    if isinstance(value, str):
        min_len, max_len = schema.get("minLength"), schema.get("maxLength")
        if max_len is not None and len(value) > max_len:
            yield StatusCause(path, f"Too long: may not be more than {max_len} bytes", TOO_LONG)
        if min_len is not None and len(value) < min_len:
            yield _invalid(path, value, f"{path} in body should be at least {min_len} chars long")
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not compile_pattern(pattern).search(value):
            yield _invalid(path, value, f"{path} in body should match '{pattern}'")


def _check_object(schema: dict[str, Any], value: dict[str, Any], path: str) -> Iterator[StatusCause]:
    for name in schema.get("required") or []:
        if name not in value:
            yield StatusCause(_join(path, name), "Required value", REQUIRED)
    min_props, max_props = schema.get("minProperties"), schema.get("maxProperties")
    if min_props is not None and len(value) < min_props:
        yield _invalid(path, len(value), f"{path} in body should have at least {min_props} properties")
    if max_props is not None and len(value) > max_props:
        yield StatusCause(path, f"Too many: {len(value)}: must have at most {max_props} items", "FieldValueTooMany")
    if schema.get("x-kubernetes-embedded-resource"):
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                yield StatusCause(_join(path, key), "Required value: must not be empty for embedded resources",
                                  REQUIRED)
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if not path and key in ROOT_FIELDS:
            continue
        sub = properties.get(key)
        if isinstance(sub, dict):
            yield from validate_value(sub, item, _join(path, key))
        elif isinstance(extra, dict):
            yield from validate_value(extra, item, f"{path}[{key}]" if path else key)


def _check_array(schema: dict[str, Any], value: list[Any], path: str) -> Iterator[StatusCause]:
    min_items, max_items = schema.get("minItems"), schema.get("maxItems")
    if min_items is not None and len(value) < min_items:
        yield _invalid(path, len(value), f"{path} in body should have at least {min_items} items")
    if max_items is not None and len(value) > max_items:
        yield StatusCause(path, f"Too many: {len(value)}: must have at most {max_items} items", "FieldValueTooMany")
    if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                yield StatusCause(f"{path}[{i}]", f"Duplicate value: {format_value(item)}", "FieldValueDuplicate")
            seen.append(item)
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            yield from validate_value(items, item, f"{path}[{i}]")


def validate_object(schema: dict[str, Any] | None, obj: dict[str, Any]) -> list[StatusCause]:
    """The problems of a whole custom object (metadata, apiVersion and kind are the apiserver's business)."""
    if not schema:
        return []
    return list(validate_value(schema, obj, ""))

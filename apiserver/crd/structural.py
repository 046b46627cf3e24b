"""Pruning and defaulting of custom objects by their structural schema.

Why before validation (as Kubernetes does): a field the schema does not name
is dropped (unless `x-kubernetes-preserve-unknown-fields: true`), a `null` for
a field that is not `nullable` is dropped, and a missing field with a
`default` gets it -- so what is validated and stored is exactly what the
schema describes, and a client reading back sees the defaults. `apiVersion`,
`kind` and `metadata` of the object (and of embedded resources) are never
pruned: the apiserver owns them.
"""

from __future__ import annotations

import copy
from typing import Any

from apiserver.crd.validate import ROOT_FIELDS

"""The request's `fieldValidation` (Strict, Warn, Ignore; "" = not given), set by the HTTP adapter.
Strict turns pruned fields into an error, as Kubernetes does; otherwise they are pruned."""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def prune(schema: dict[str, Any], value: Any, *, root: bool = False, dropped: list[str] | None = None,
          path: str = "") -> Any:
    """`value` with unknown fields and non-nullable nulls removed (in place for maps and lists);
    the paths of removed unknown fields are appended to `dropped`."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        keep_meta = root or bool(schema.get("x-kubernetes-embedded-resource"))
        for key in list(value):
            if keep_meta and key in ROOT_FIELDS:
                continue
            sub = properties.get(key) if isinstance(properties, dict) else None
            if sub is None and isinstance(extra, dict):
                sub = extra
            if sub is None:
                if not preserve and extra is not True:
                    del value[key]
                    if dropped is not None:
                        dropped.append(_join(path, key))
                continue
            if value[key] is None and not sub.get("nullable"):
                del value[key]
                continue
            prune(sub, value[key], dropped=dropped, path=_join(path, key))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                prune(items, item, dropped=dropped, path=f"{path}[{i}]")
    return value


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """`value` with every absent field that has a `default` set to a copy of it (in place)."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict) and key not in value and "default" in sub:
                    value[key] = copy.deepcopy(sub["default"])
        for key, item in value.items():
            sub = properties.get(key) if isinstance(properties, dict) else None
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if isinstance(sub, dict):
                apply_defaults(sub, item)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                apply_defaults(items, item)
    return value


def normalize(schema: dict[str, Any] | None, obj: dict[str, Any], dropped: list[str] | None = None
              ) -> dict[str, Any]:
    """Prune, then default, a whole custom object (in place); what gets validated and stored."""
    if schema:
        prune(schema, obj, root=True, dropped=dropped)
        apply_defaults(schema, obj)
    return obj

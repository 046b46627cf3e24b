"""Patch semantics shared by the apiserver and kctl: JSON merge patch (RFC 7386), JSON patch
(RFC 6902) and strategic merge patch.

Why in kubelite.api and not in the HTTP layer: the apiserver applies PATCH bodies with these
functions and `kctl patch`/`label`/`set` apply the same bodies client-side (read, patch,
update with the read resourceVersion), so both must be one implementation.

Strategic merge differs from a merge patch in that some lists merge by a key
(`containers` by `name`, `volumeMounts` by `mountPath`, ...) instead of being replaced,
plus the directives kubectl emits: `$patch: replace|delete|merge`, `$retainKeys`,
`$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`. Kubernetes reads the
merge keys from Go struct tags; kubelite's table is `kubelite/api/listtypes.py`, shared
with server-side apply so both agree on which items are the same.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonpatch
import jsonpointer

from kubelite.api.errors import BadRequest, Invalid
from kubelite.api.listtypes import MERGED_SCALAR_LISTS, list_key

PatchFn = Callable[[dict[str, Any]], dict[str, Any]]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(target: dict[str, Any], operations: Any) -> Any:
    """RFC 6902 operations on the object; a failing operation is 422 like Kubernetes."""
    if not isinstance(operations, list):
        raise BadRequest("json patch must be a JSON array of operations")
    try:
        patch = jsonpatch.JsonPatch(operations)
        return patch.apply(target)
    except jsonpatch.InvalidJsonPatch as exc:
        raise BadRequest(f"invalid json patch: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
        raise Invalid(f"the server rejected our request due to an error in our request: {exc}") from None


# ---- strategic merge patch ---------------------------------------------------------------------

def _directive(value: Any) -> str:
    return str(value.get("$patch", "")) if isinstance(value, dict) else ""


def strategic_merge(original: Any, patch: Any) -> Any:
    """Apply a strategic merge patch map to `original` (a map); the result is a new map."""
    if not isinstance(patch, dict):
        raise BadRequest("strategic merge patch must be a JSON object")
    directive = _directive(patch)
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in ("", "merge"):
        raise BadRequest(f"unknown patch type: {directive}")
    out: dict[str, Any] = dict(original) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.partition("/")[2]] = value if isinstance(value, list) else []
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.partition("/")[2]
            gone = value if isinstance(value, list) else []
            if isinstance(out.get(field), list):
                out[field] = [v for v in out[field] if v not in gone]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge(out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            out[key] = _merge_list(key, out.get(key), value)
        else:
            out[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(out.get(field), list):
            out[field] = _ordered(field, out[field], order)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    current = list(original) if isinstance(original, list) else []
    if any(_directive(item) == "replace" for item in patch):
        return [copy.deepcopy(i) for i in patch if _directive(i) != "replace"]
    if field in MERGED_SCALAR_LISTS:
        return current + [v for v in patch if v not in current]
    key = list_key(field, patch + current)
    if key is None:
        return [copy.deepcopy(i) for i in patch]
    out = list(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise BadRequest(f"map in list {field} must have the merge key {key!r}")
        index = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if _directive(item) == "delete":
            if index is not None:
                del out[index]
            continue
        if index is None:
            out.append(strategic_merge({}, item))
        else:
            out[index] = strategic_merge(out[index], item)
    return out


def _ordered(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """`$setElementOrder`: the listed elements in that order, the server's others after them."""
    key = list_key(field, order + items)

    def ident(v: Any) -> Any:
        return v.get(key) if key is not None and isinstance(v, dict) else v

    wanted = [ident(o) for o in order]
    ranked = [i for w in wanted for i in items if ident(i) == w]
    return ranked + [i for i in items if ident(i) not in wanted]


PATCH_TYPES = ("strategic", "merge", "json")


def patch_for(patch_type: str, body: Any) -> PatchFn:
    """The patch function for kubectl's `--type strategic|merge|json` and a decoded body."""
    if patch_type == "json":
        return lambda current: json_patch(current, body)
    if not isinstance(body, dict):
        raise BadRequest(f"{patch_type} merge patch must be a JSON object")
    if patch_type == "merge":
        return lambda current: merge_patch(current, body)
    if patch_type == "strategic":
        return lambda current: strategic_merge(current, body)
    raise BadRequest(f"--type must be one of {', '.join(PATCH_TYPES)}, not {patch_type!r}")

"""Field sets: which fields of an object a write sets, as paths, and their FieldsV1 encoding.

Why paths in FieldsV1's own element syntax: ownership is stored in
`metadata.managedFields[].fieldsV1`, a tree whose keys are `f:<field>` (a map field),
`k:<json of the merge key>` (an item of a keyed list), `v:<json value>` (an item of a set
list) and `.` (the node itself is owned as well as its children). Keeping each path as the
tuple of those element strings makes encoding a plain tree build and set algebra cheap.

A path is a member of an object's field set when it is a leaf there: a scalar, an atomic
list or map, an empty map, an item of a keyed or set list (plus the item's own fields).
Metadata the server owns and the type header are never members, like Kubernetes.
"""

from __future__ import annotations

import json
from typing import Any

from kubelite.api.listtypes import ATOMIC_FIELDS, MERGED_SCALAR_LISTS, list_key

Path = tuple[str, ...]

# Never owned: set by the server or identifying the object rather than describing it.
SERVER_METADATA = frozenset({
    "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName",
})
STATUS = "status"
_MISSING = object()


def _encode(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return json.dumps(value)  # the shared default encoder: a scalar needs no separators or sorting
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _key_element(key: str, value: Any) -> str:
    return "k:{" + json.dumps(key) + ":" + _encode(value) + "}"


def scoped(obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
    """The part of `obj` a write of `subresource` can own: `status` alone for the status
    subresource, everything else (minus server metadata and the type header) otherwise."""
    if subresource == STATUS:
        return {STATUS: obj[STATUS]} if obj.get(STATUS) else {}
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", STATUS)}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_METADATA}
    if meta:
        out["metadata"] = meta
    return out


def leaves(obj: dict[str, Any]) -> dict[Path, Any]:
    """Every member path of `obj` with its value (an item path maps to its key)."""
    out: dict[Path, Any] = {}
    _walk_map(obj, (), out)
    return out


def owned_paths(obj: dict[str, Any]) -> set[Path]:
    """The members of both scopes (what any manager may still own after a write)."""
    return set(leaves(scoped(obj))) | set(leaves(scoped(obj, STATUS)))


def _walk_map(value: dict[str, Any], prefix: Path, out: dict[Path, Any]) -> None:
    for name, child in value.items():
        if child is not None:
            _walk(child, name, prefix + ("f:" + name,), out)


def _walk(value: Any, field: str, path: Path, out: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value and field not in ATOMIC_FIELDS:
        _walk_map(value, path, out)
        return
    if isinstance(value, list) and value:
        if field in MERGED_SCALAR_LISTS and not any(isinstance(v, dict | list) for v in value):
            for item in value:
                out[path + ("v:" + _encode(item),)] = item
            return
        key = list_key(field, value)
        if key is not None and all(isinstance(i, dict) and key in i for i in value):
            for item in value:
                item_path = path + (_key_element(key, item[key]),)
                out[item_path] = {key: item[key]}
                _walk_map(item, item_path, out)
            return
    out[path] = value


# ---- FieldsV1 ------------------------------------------------------------------------------------

def fields_tree(obj: dict[str, Any]) -> dict[str, Any]:
    """`to_fields_v1(set(leaves(obj)))` in one walk: what a create records, on every create."""
    return _tree_map(obj)


def _tree_map(value: dict[str, Any]) -> dict[str, Any]:
    return {"f:" + name: _tree(child, name) for name, child in value.items() if child is not None}


def _tree(value: Any, field: str) -> dict[str, Any]:
    if isinstance(value, dict) and value and field not in ATOMIC_FIELDS:
        return _tree_map(value)
    if isinstance(value, list) and value:
        if field in MERGED_SCALAR_LISTS and not any(isinstance(v, dict | list) for v in value):
            return {"v:" + _encode(item): {} for item in value}
        key = list_key(field, value)
        if key is not None and all(isinstance(i, dict) and key in i for i in value):
            return {_key_element(key, item[key]): {".": {}, **_tree_map(item)} for item in value}
    return {}


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    """The FieldsV1 tree of `paths`: `.` marks a member that also has member children."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = root
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return root


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    """The member paths of a FieldsV1 tree (malformed parts are skipped: they own nothing)."""
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for element, child in tree.items():
        if element == ".":
            if prefix:
                out.add(prefix)
            continue
        if not isinstance(element, str) or element[:2] not in ("f:", "k:", "v:", "i:"):
            continue
        path = prefix + (element,)
        if isinstance(child, dict) and child:
            out |= from_fields_v1(child, path)
        else:
            out.add(path)
    return out


# ---- navigation ------------------------------------------------------------------------------------

def _step(node: Any, element: str) -> tuple[Any, Any]:
    """(container, found value) of one element; the value is _MISSING when absent."""
    kind, _, text = element.partition(":")
    if kind == "f":
        return node, node.get(text, _MISSING) if isinstance(node, dict) else _MISSING
    if not isinstance(node, list):
        return node, _MISSING
    want = json.loads(text)
    if kind == "k" and isinstance(want, dict):
        for item in node:
            if isinstance(item, dict) and all(item.get(k) == v for k, v in want.items()):
                return node, item
    elif kind == "v" and want in node:
        return node, want
    return node, _MISSING


def remove_path(obj: dict[str, Any], path: Path) -> None:
    """Delete the field or list item at `path` from `obj` in place (absent: nothing to do)."""
    node: Any = obj
    for element in path[:-1]:
        node = _step(node, element)[1]
        if node is _MISSING:
            return
    container, found = _step(node, path[-1])
    if found is _MISSING:
        return
    if isinstance(container, dict):
        container.pop(path[-1][2:], None)
    else:
        container[:] = [i for i in container if i is not found and i != found]


def describe(path: Path) -> str:
    """A path as Kubernetes prints it in conflicts: `.spec.containers[name="main"].image`."""
    out = []
    for element in path:
        kind, _, text = element.partition(":")
        if kind == "f":
            out.append("." + text)
        elif kind == "k":
            keys = json.loads(text)
            out.append("[" + ",".join(f"{k}={_encode(v)}" for k, v in keys.items()) + "]")
        else:
            out.append(f"[={text}]")
    return "".join(out)


def same_value(a: Any, b: Any) -> bool:
    """Equal, counting `cpu: 1` (a YAML number) and the stored "1" as the same quantity."""
    if a == b:
        return True
    scalars = (int, float, str)
    return (isinstance(a, scalars) and isinstance(b, scalars) and not isinstance(a, bool)
            and not isinstance(b, bool) and str(a) == str(b))

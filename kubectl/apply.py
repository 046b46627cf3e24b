"""`kctl apply`: create what is missing, merge what exists, say what happened.

The merge is kubectl's three-way idea, done on plain JSON:

* the manifest says what the user wants (its fields override the live object);
* the live object keeps everything the manifest does not mention (status, uid,
  resourceVersion, clusterIP, nodeName, server defaults such as a container's
  imagePullPolicy);
* the previous manifest, stored in the `kubectl.kubernetes.io/last-applied-configuration`
  annotation, tells which fields the user *removed*: those are deleted.

Why compute the merged object locally and compare: an apply that changes nothing
must not write (`unchanged`), so re-applying the same file is free and quiet.
"""

from __future__ import annotations

import base64
import copy
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from kubectl.manifests import Manifest
from kubectl.session import Session
from kubelite.api import hpaconvert
from kubelite.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from kubelite.api.quantity import parse_quantity

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# List element keys that identify "the same" element across versions (Kubernetes' patch merge keys).
MERGE_KEYS = ("name", "mountPath", "containerPort", "port", "ip", "type", "key")
QUANTITY_PARENTS = ("requests", "limits", "capacity", "allocatable", "hard", "used")
MAX_ATTEMPTS = 5

Obj = dict[str, Any]


# ---- pure merge ------------------------------------------------------------------------------------

def _as_quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        return parse_quantity(str(value))
    except (ValueError, ArithmeticError, InvalidOperation, ApiError):
        return None


def loosely_equal(live: Any, desired: Any, parent: str = "") -> bool:
    """Equal as the server would store them: `1` vs `"1"`, `0.5` vs `"500m"` for quantities."""
    if live == desired and type(live) is type(desired):
        return True
    scalar = (str, int, float)
    if isinstance(live, bool) or isinstance(desired, bool):
        return live == desired and isinstance(live, bool) and isinstance(desired, bool)
    if isinstance(live, scalar) and isinstance(desired, scalar):
        if str(live) == str(desired):
            return True
        if parent in QUANTITY_PARENTS:
            a, b = _as_quantity(live), _as_quantity(desired)
            return a is not None and a == b
    return False


def _merge_key(items: list[Any]) -> str | None:
    """The key shared (and unique) by every element of a list of objects, if any."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in MERGE_KEYS:
        values = [i.get(key) for i in items]
        if all(v is not None for v in values) and len({json.dumps(v, sort_keys=True) for v in values}) == len(values):
            return key
    return None


def _find(items: list[Any], key: str, value: Any) -> Any:
    for item in items:
        if isinstance(item, dict) and item.get(key) == value:
            return item
    return None


def merge_value(live: Any, desired: Any, last: Any, key: str = "", container: str = "") -> Any:
    """The value of field `key` (inside map `container`) after applying `desired` over `live`."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return merge_map(live, desired, last if isinstance(last, dict) else None, key)
    if isinstance(desired, list) and isinstance(live, list):
        return merge_list(live, desired, last if isinstance(last, list) else None, key)
    if loosely_equal(live, desired, container):
        return live
    return copy.deepcopy(desired)


def merge_map(live: Obj, desired: Obj, last: Obj | None, name: str = "") -> Obj:
    """Manifest keys override (recursively); keys only in `last` are removed; others are kept."""
    result = copy.deepcopy(live)
    for key, value in desired.items():
        if key in live:
            result[key] = merge_value(live[key], value, (last or {}).get(key), key, name)
        else:
            result[key] = copy.deepcopy(value)
    for key in last or {}:
        if key not in desired:
            result.pop(key, None)
    return result


def merge_list(live: list[Any], desired: list[Any], last: list[Any] | None, name: str = "") -> list[Any]:
    """Lists follow the manifest; elements matched by merge key (or position) keep server fields."""
    key = _merge_key(desired)
    if key is not None and _merge_key(live) == key:
        out = []
        for item in desired:
            match = _find(live, key, item[key])
            previous = _find(last or [], key, item[key])
            out.append(copy.deepcopy(item) if match is None else merge_value(match, item, previous, name, name))
        return out
    if len(live) == len(desired):
        previous_items = last if last is not None and len(last) == len(desired) else [None] * len(desired)
        return [merge_value(lv, dv, pv, name, name)
                for lv, dv, pv in zip(live, desired, previous_items, strict=True)]
    return copy.deepcopy(desired)


def last_applied_of(live: Obj) -> Obj | None:
    """The previously applied manifest stored on the live object, if it is readable."""
    text = (live.get("metadata") or {}).get("annotations", {}).get(LAST_APPLIED)
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def annotate(manifest: Obj) -> Obj:
    """The manifest plus the annotation recording it (what apply sends/merges)."""
    record = copy.deepcopy(manifest)
    annotations = (record.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            record["metadata"].pop("annotations")
    body = copy.deepcopy(record)
    meta = body.get("metadata")
    if meta is None:
        meta = body["metadata"] = {}
    if isinstance(meta, dict):  # anything else is the server's to refuse, naming the field
        if meta.get("annotations") is None:  # absent or null: kubectl treats both as none
            meta["annotations"] = {}
        if isinstance(meta["annotations"], dict):
            meta["annotations"][LAST_APPLIED] = json.dumps(record, separators=(",", ":")) + "\n"
    return body


def _as_stored(obj: Obj | None) -> Obj | None:
    """A manifest as the server stores it: a Secret's write-only `stringData` becomes base64 `data`."""
    if obj is None or obj.get("kind") != "Secret" or not isinstance(obj.get("stringData"), dict):
        return obj
    stored = copy.deepcopy(obj)
    plain = stored.pop("stringData")
    data = stored.setdefault("data", {})
    if isinstance(data, dict):
        data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in plain.items()})
    return stored


def desired_state(live: Obj, manifest: Obj) -> Obj:
    """The object apply wants the server to hold (the live object when nothing changes)."""
    return merge_map(live, _as_stored(annotate(manifest)) or {}, _as_stored(last_applied_of(live)))


def needs_update(live: Obj, manifest: Obj) -> tuple[bool, Obj]:
    """(changed?, merged object) — unchanged when the merge leaves the live object as it is.

    The live object is seen in the manifest's version (an autoscaling/v1 HorizontalPodAutoscaler
    is stored as v2), so re-applying the same v1 file changes nothing."""
    view = hpaconvert.to_v1(live) if hpaconvert.is_v1(manifest) else live
    merged = desired_state(view, manifest)
    return merged != view, merged


# ---- the command's per-object step -----------------------------------------------------------------

async def apply_one(session: Session, manifest: Manifest) -> str:
    """Create, update or leave one object; returns "created", "configured" or "unchanged"."""
    info = manifest.info
    last_error: ApiError | None = None
    for _ in range(MAX_ATTEMPTS):
        try:
            live = await session.get(info, manifest.name, manifest.namespace)
        except NotFound:
            try:
                await session.create(info, annotate(manifest.body))
                return "created"
            except AlreadyExists as exc:  # someone created it meanwhile: merge into theirs
                last_error = exc
                continue
        changed, merged = needs_update(live, manifest.body)
        if not changed:
            return "unchanged"
        try:
            await session.update(info, merged)
            return "configured"
        except Conflict as exc:
            last_error = exc
    assert last_error is not None
    raise last_error

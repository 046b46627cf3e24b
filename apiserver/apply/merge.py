"""Server-side apply and the field ownership bookkeeping of every write.

Why pure: the rules (who owns what, when applying is a conflict, which fields an apply
removes) are what users reason about, so they are table-tested without a server. The
service calls `apply` inside its compare-and-swap loop and `record_update` for every
other write, both on plain JSON objects.

The rules, as Kubernetes' structured merge has them:
- An apply by manager M sets exactly the fields of its configuration; M's `Apply` entry
  becomes that field set.
- A field of the configuration owned by another manager with a different live value is a
  conflict (409) unless `force`, which takes the field away from that manager. An equal
  value is shared ownership.
- A field M applied before and no longer applies is removed from the object, unless
  another manager also owns it.
- Any other write (`Update` operation) takes the fields it changes away from everyone
  else, without conflicts.
- Fields that no longer exist are owned by nobody; managers left owning nothing are dropped.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from apiserver.apply.fieldset import (
    Path,
    describe,
    fields_tree,
    from_fields_v1,
    leaves,
    owned_paths,
    remove_path,
    same_value,
    scoped,
    to_fields_v1,
)
from kubelite.api.errors import Conflict, StatusCause
from kubelite.api.listtypes import ATOMIC_FIELDS, MERGED_SCALAR_LISTS, list_key

APPLY = "Apply"
UPDATE = "Update"
CONFLICT_REASON = "FieldManagerConflict"


@dataclass(slots=True)
class Entry:
    """One `managedFields` entry: what one manager owns through one operation (and subresource)."""

    manager: str
    operation: str
    api_version: str
    time: str
    fields: set[Path] = field(default_factory=set)
    subresource: str = ""

    def same_owner(self, manager: str, operation: str, subresource: str) -> bool:
        return (self.manager, self.operation, self.subresource) == (manager, operation, subresource)


def raw_entries(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    """`obj`'s managedFields items that name a manager (`[{}]` is how a client clears them all)."""
    raw = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    return [item for item in raw if isinstance(item, dict) and item.get("manager")] if isinstance(raw, list) else []


def _decode(item: dict[str, Any]) -> Entry | None:
    if item.get("manager") is None:
        return None
    return Entry(str(item["manager"]), str(item.get("operation") or UPDATE), str(item.get("apiVersion") or ""),
                 str(item.get("time") or ""), from_fields_v1(item.get("fieldsV1")), str(item.get("subresource") or ""))


def _encode(e: Entry, tree: dict[str, Any] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                            "time": e.time, "fieldsType": "FieldsV1",
                            "fieldsV1": to_fields_v1(e.fields) if tree is None else tree}
    if e.subresource:
        item["subresource"] = e.subresource
    return item


def read_entries(obj: dict[str, Any] | None) -> list[Entry]:
    """The entries of `obj`'s `metadata.managedFields` (missing or malformed parts own nothing)."""
    return [e for e in map(_decode, raw_entries(obj)) if e is not None]


def write_entries(entries: list[Entry]) -> list[dict[str, Any]]:
    return [_encode(e) for e in entries]


def _own(entries: list[Entry], manager: str, operation: str, subresource: str, api_version: str,
         now: str) -> Entry:
    for e in entries:
        if e.same_owner(manager, operation, subresource):
            return e
    entry = Entry(manager, operation, api_version, now, set(), subresource)
    entries.append(entry)
    return entry


def prune(entries: list[Entry], obj: dict[str, Any]) -> list[Entry]:
    """Entries limited to fields `obj` still has; managers owning nothing are dropped."""
    present = owned_paths(obj)
    out = []
    for e in entries:
        e.fields &= present
        if e.fields:
            out.append(e)
    return out


# ---- Update ------------------------------------------------------------------------------------

def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, api_version: str, now: str,
                  subresource: str = "", entries: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """`managedFields` after a non-apply write by `manager` of `old` into `new`: it takes every
    field it changed; fields it removed are owned by nobody. `entries` replaces `old`'s
    own when the client rewrote them.

    Why on the raw entries: this runs on every write (kubelets' status updates most of all),
    so entries the write cannot touch -- none of their top-level fields changed -- are kept
    as they are instead of being decoded and encoded again.
    """
    if old is None:  # a create: the writer owns everything it set
        tree = fields_tree(scoped(new, subresource))
        return [_encode(Entry(manager, UPDATE, api_version, now, subresource=subresource), tree)] if tree else []
    entries = raw_entries(old) if entries is None else entries
    before = leaves(scoped(old, subresource))
    after = leaves(scoped(new, subresource))
    changed = {p for p, v in after.items() if p not in before or not same_value(before[p], v)}
    removed = before.keys() - after.keys()
    if not changed and not removed:
        return entries
    touched = changed | removed
    tops = {p[0] for p in touched}
    out: list[dict[str, Any]] = []
    mine = False
    for item in entries:
        owned = item.get("fieldsV1")
        own = (item.get("manager"), item.get("operation") or UPDATE, item.get("subresource") or "") == (
            manager, UPDATE, subresource)
        if not own and not (isinstance(owned, dict) and tops & owned.keys()):
            out.append(item)
            continue
        entry = _decode(item)
        if entry is None:
            continue
        if own:
            mine = True
            entry.fields = (entry.fields - removed) | changed
            if changed:
                entry.time, entry.api_version = now, api_version
        else:
            entry.fields -= touched
        if entry.fields:
            out.append(_encode(entry))
    if not mine and changed:
        out.append(_encode(Entry(manager, UPDATE, api_version, now, changed, subresource)))
    return out


# ---- Apply -------------------------------------------------------------------------------------

def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def merge(live: Any, config: Any, name: str = "") -> Any:
    """`config` merged onto `live`: maps by field, keyed lists by key, sets as sets; the rest replaced."""
    if isinstance(live, dict) and isinstance(config, dict) and name not in ATOMIC_FIELDS:
        out = dict(live)
        for key, value in config.items():
            out[key] = merge(live.get(key), value, key)
        return out
    if isinstance(live, list) and isinstance(config, list):
        if name in MERGED_SCALAR_LISTS:
            return live + [v for v in config if v not in live]
        key = list_key(name, config + live)
        if key is not None and all(isinstance(i, dict) and key in i for i in config + live):
            merged = list(live)
            for item in config:
                index = next((i for i, o in enumerate(merged) if o[key] == item[key]), None)
                if index is None:
                    merged.append(copy.deepcopy(item))
                else:
                    merged[index] = merge(merged[index], item)
            return merged
    return copy.deepcopy(config)


def conflict_error(conflicts: list[tuple[Entry, Path]], resource: str, name: str) -> Conflict:
    """409 in Kubernetes' wording: `Apply failed with 1 conflict: conflict with "m" using apps/v1: .spec.x`."""
    by_manager: dict[tuple[str, str], list[str]] = {}
    for entry, path in conflicts:
        by_manager.setdefault((entry.manager, entry.api_version), []).append(describe(path))
    parts = []
    causes = []
    for (manager, version), paths in by_manager.items():
        paths.sort()
        who = f'"{manager}" using {version}' if version else f'"{manager}"'
        if len(paths) == 1:
            parts.append(f"conflict with {who}: {paths[0]}")
        else:
            parts.append(f"conflicts with {who}:\n" + "\n".join(f"- {p}" for p in paths))
        causes += [StatusCause(p, f"conflict with {who}", CONFLICT_REASON) for p in paths]
    n = len(conflicts)
    message = f"Apply failed with {n} conflict{'s' if n != 1 else ''}: " + "\n".join(parts)
    return Conflict(message, causes, name=name, kind=resource)


def apply(live: dict[str, Any] | None, config: dict[str, Any], manager: str, *, force: bool, now: str,
          resource: str, name: str, subresource: str = "") -> tuple[dict[str, Any], list[Entry]]:
    """Apply `config` for `manager` onto `live` (None: create); the new object and entries.

    Raises the 409 of `conflict_error` when another manager owns a field with another value
    and `force` is false.
    """
    config = _drop_nulls(config)
    applied = leaves(scoped(config, subresource))
    api_version = str(config.get("apiVersion") or "")
    if live is None:
        return config, [Entry(manager, APPLY, api_version, now, set(applied), subresource)]
    entries = read_entries(live)
    current = leaves(scoped(live, subresource))
    conflicts = [(e, p) for e in entries if e.manager != manager
                 for p in sorted(e.fields & applied.keys())
                 if p in current and not same_value(current[p], applied[p])]
    if conflicts and not force:
        raise conflict_error(conflicts, resource, name)
    for e, p in conflicts:
        e.fields.discard(p)
    merged = merge(live, config)
    mine = _own(entries, manager, APPLY, subresource, api_version, now)
    others = set().union(*(e.fields for e in entries if e is not mine))
    removed: list[Path] = []
    for path in sorted(mine.fields - applied.keys(), key=len):  # an item before its fields
        if any(path[:len(r)] == r for r in removed) or any(o[:len(path)] == path for o in others):
            continue
        remove_path(merged, path)
        removed.append(path)
    if mine.fields != set(applied) or mine.api_version != api_version:
        mine.fields, mine.api_version, mine.time = set(applied), api_version, now
    return merged, [e for e in entries if e.fields]

"""Table output: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.

Why on the server: `kubectl get` prints whatever columns the server computes (it
has no per-kind printers of its own for a server that answers Tables), so the
server must produce kctl's columns for kubectl to show them. The columns come
from `kubelite.api.columns`, the same code kctl prints with; wide columns get
priority 1 so only `-o wide` shows them. Each row carries the object's metadata
(`PartialObjectMetadata`) so kubectl can add NAMESPACE and LABELS columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kubelite.api import columns, printercolumns
from kubelite.api.custom import CustomKind
from kubelite.api.errors import BadRequest

TABLE_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def wants_table(accept: str) -> bool:
    """True when the first acceptable choice that names a `g=meta.k8s.io` form asks for a Table."""
    for choice in accept.split(","):
        params = {p.strip() for p in choice.split(";")[1:]}
        if "g=meta.k8s.io" in params:
            return "as=Table" in params
        if choice.split(";")[0].strip() in ("application/json", "*/*", "application/*"):
            return False
    return False


def column_definitions(kind: str, custom: CustomKind | None = None) -> list[dict[str, Any]]:
    if kind == "Event":
        names, wide = list(columns.EVENT_COLUMNS), []
    else:
        spec = printercolumns.table_spec(custom) if custom is not None else columns.TABLES.get(kind, columns.GENERIC)
        names = ["NAME", *spec.columns]
        wide = spec.wide_columns if spec.wide_row is not None else []
    out = [{"name": name, "type": "string", "format": "name" if name == "NAME" else "",
            "description": "", "priority": 0} for name in names] + [
        {"name": name, "type": "string", "format": "", "description": "", "priority": 1} for name in wide]
    if custom is not None:  # the CRD's own column types (kubectl aligns numbers, shows dates as ages)
        for definition, (type_, format_, description) in zip(out[1:], printercolumns.column_types(custom),
                                                             strict=True):
            definition.update(type="string" if type_ == "date" else type_, format=format_, description=description)
    return out


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def check_include_object(value: str) -> str:
    value = value or "Metadata"
    if value not in ("None", "Metadata", "Object"):
        raise BadRequest(f'includeObject must be one of "None", "Metadata", "Object", got "{value}"')
    return value


def table(kind: str, objs: Sequence[dict[str, Any]], *, include_object: str = "Metadata",
          resource_version: str = "", continue_token: str = "", now: datetime | None = None,
          custom: CustomKind | None = None) -> dict[str, Any]:
    """The Table of `objs` (all of one kind), with every column, wide ones at priority 1;
    a custom kind's (`custom`) columns are its CRD's printer columns."""
    spec = printercolumns.table_spec(custom) if custom is not None else None
    _, rows = columns.table_for(kind, objs, wide=True, now=now or datetime.now(UTC), spec=spec)
    out_rows = []
    for obj, cells in zip(objs, rows, strict=True):
        row: dict[str, Any] = {"cells": cells}
        attached = _row_object(obj, include_object)
        if attached is not None:
            row["object"] = attached
        out_rows.append(row)
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": column_definitions(kind, custom), "rows": out_rows}

"""Custom resources: the model of a kind a CustomResourceDefinition adds, and its KindInfo.

Why a generated model per kind (a subclass of `CustomResource` named by the
CRD's kind): everything that handles objects -- the apiserver's write path, the
informers, kctl's manifests -- goes from `apiVersion`+`kind` to a model and
from a model back to its `KindInfo`. A custom kind gets its own class so that
round trip works unchanged; its content (spec, status, anything the schema
allows) is kept as the model's extra fields and checked against the CRD's
schema by the apiserver, not by pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, create_model

from kubelite.api.apiextensions import CustomResourceDefinition
from kubelite.api.meta import Resource


class CustomResource(Resource):
    """Base of every custom kind: metadata typed, the rest free-form (validated by the CRD schema)."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class ScalePaths:
    """The CRD's `scale` subresource: where replicas and the selector live (`.spec.replicas`)."""

    spec_replicas: str
    status_replicas: str
    label_selector: str = ""


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str = ""
    format: str = ""


@dataclass(frozen=True, eq=False)
class CustomKind:
    """What a custom kind adds to its KindInfo: the CRD it comes from and how its objects behave."""

    crd_name: str
    crd_uid: str
    schema: dict[str, Any] | None
    status: bool = False
    scale: ScalePaths | None = None
    columns: tuple[PrinterColumn, ...] = ()
    categories: tuple[str, ...] = ()
    selectable_fields: tuple[str, ...] = field(default=())


_MODELS: dict[tuple[str, str], type[CustomResource]] = {}


def model_for(api_version: str, kind: str) -> type[CustomResource]:
    """The (stable) model class of a custom kind; one per apiVersion+kind for the process's life."""
    key = (api_version, kind)
    model = _MODELS.get(key)
    if model is None:
        model = create_model(kind or "Custom", __base__=CustomResource,
                             api_version=(str, api_version), kind=(str, kind))
        _MODELS[key] = model
    return model


def read_path(obj: Any, path: str) -> Any:
    """The value at a simple JSON path (`.spec.replicas`) of a CRD's scale subresource; None if absent."""
    cur = obj
    for part in [p for p in path.strip().lstrip(".").split(".") if p]:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def write_path(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a simple JSON path, creating the maps on the way; ValueError if a non-map is in it."""
    parts = [p for p in path.strip().lstrip(".").split(".") if p]
    cur = obj
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            if nxt is not None:
                raise ValueError(f"cannot set {path}: .{part} is not an object")
            nxt = cur[part] = {}
        cur = nxt
    cur[parts[-1]] = value


def content(obj: Resource) -> dict[str, Any]:
    """The free-form part of a custom object (everything but apiVersion, kind, metadata); live, mutable."""
    extra = obj.__pydantic_extra__
    if extra is None:
        raise TypeError(f"{type(obj).__name__} is not a custom resource")
    return extra


def set_content(obj: Resource, data: dict[str, Any]) -> None:
    extra = content(obj)
    extra.clear()
    extra.update({k: v for k, v in data.items() if k not in ("apiVersion", "kind", "metadata")})


def _paths(crd: CustomResourceDefinition) -> CustomKind:
    version = crd.served_version()
    subresources = version.subresources if version is not None else None
    scale = None
    if subresources is not None and subresources.scale is not None:
        s = subresources.scale
        scale = ScalePaths(s.spec_replicas_path, s.status_replicas_path, s.label_selector_path or "")
    schema = version.validation_schema.open_api_v3_schema if version and version.validation_schema else None
    columns = tuple(PrinterColumn(c.name, c.type, c.json_path, c.priority or 0, c.description or "",
                                  c.format or "") for c in (version.additional_printer_columns if version else []))
    return CustomKind(
        crd_name=crd.metadata.name or "", crd_uid=crd.metadata.uid or "", schema=schema,
        status=subresources is not None and subresources.status is not None, scale=scale, columns=columns,
        categories=tuple(crd.spec.names.categories),
        selectable_fields=tuple(f.json_path for f in (version.selectable_fields if version else [])),
    )


def kind_parts(crd: CustomResourceDefinition) -> tuple[str, str, str, bool, tuple[str, ...], CustomKind] | None:
    """(apiVersion, kind, plural, namespaced, short names, CustomKind) of a CRD's served version;
    None when the CRD serves nothing."""
    version = crd.served_version()
    if version is None:
        return None
    names = crd.spec.names
    api_version = f"{crd.spec.group}/{version.name}"
    return (api_version, names.kind, names.plural, crd.spec.scope != "Cluster", tuple(names.short_names),
            _paths(crd))

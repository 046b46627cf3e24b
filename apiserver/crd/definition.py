"""Validation of a CustomResourceDefinition: names, scope, versions, subresources, schema.

Why strict: a CRD becomes URL paths, storage keys and a kind in every
client's discovery, so a bad one is refused at create/update with a cause per
field (422) instead of serving something broken. Also: a field kubelite
cannot honour -- a second served version (no conversion), a conversion
webhook -- is refused with a clear message rather than ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from apiserver.crd.schema import schema_causes
from kubelite.api.apiextensions import CustomResourceDefinition, CustomResourceDefinitionVersion
from kubelite.api.errors import StatusCause
from kubelite.api.names import dns1123_label_error, dns1123_subdomain_error

KIND_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
SCOPES = ("Namespaced", "Cluster")
COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")


def _name_causes(path: str, value: str, *, required: bool = True) -> Iterator[StatusCause]:
    if not value:
        if required:
            yield StatusCause.required(path)
        return
    error = dns1123_label_error(value)
    if error or value != value.lower():
        yield StatusCause.invalid(path, value, error or "must be all lowercase")


def names_causes(crd: CustomResourceDefinition) -> Iterator[StatusCause]:
    spec, meta = crd.spec, crd.metadata
    names = spec.names
    if not spec.group:
        yield StatusCause.required("spec.group")
    elif "." not in spec.group or dns1123_subdomain_error(spec.group):
        yield StatusCause.invalid("spec.group", spec.group, "should be a domain with at least one dot")
    yield from _name_causes("spec.names.plural", names.plural)
    yield from _name_causes("spec.names.singular", names.singular or "", required=False)
    for i, short in enumerate(names.short_names):
        yield from _name_causes(f"spec.names.shortNames[{i}]", short)
    for i, category in enumerate(names.categories):
        yield from _name_causes(f"spec.names.categories[{i}]", category)
    if not names.kind:
        yield StatusCause.required("spec.names.kind")
    elif not KIND_PATTERN.match(names.kind):
        yield StatusCause.invalid("spec.names.kind", names.kind, "may have mixed case, but should otherwise match: "
                                  "[a-z]([-a-z0-9]*[a-z0-9])?")
    if names.list_kind and names.list_kind == names.kind:
        yield StatusCause.invalid("spec.names.listKind", names.list_kind, "kind and listKind may not be the same")
    expected = f"{names.plural}.{spec.group}"
    if names.plural and spec.group and meta.name != expected:
        yield StatusCause.invalid("metadata.name", meta.name or "", 'must be spec.names.plural+"."+spec.group')


def _version_causes(i: int, version: CustomResourceDefinitionVersion) -> Iterator[StatusCause]:
    path = f"spec.versions[{i}]"
    yield from _name_causes(f"{path}.name", version.name)
    schema = version.validation_schema.open_api_v3_schema if version.validation_schema else None
    yield from schema_causes(schema, f"{path}.schema.openAPIV3Schema")
    subresources = version.subresources
    if subresources is not None and subresources.scale is not None:
        scale = subresources.scale
        for field, value in (("specReplicasPath", scale.spec_replicas_path),
                             ("statusReplicasPath", scale.status_replicas_path),
                             ("labelSelectorPath", scale.label_selector_path)):
            fpath = f"{path}.subresources.scale.{field}"
            if value is None:
                continue
            if not value and field != "labelSelectorPath":
                yield StatusCause.required(fpath)
            elif not re.match(r"^\.[A-Za-z0-9_.]+$", value):
                yield StatusCause.invalid(fpath, value, "must be a simple json path starting with .")
            elif field == "specReplicasPath" and not value.startswith(".spec."):
                yield StatusCause.invalid(fpath, value, "should be a json path under .spec")
            elif field != "specReplicasPath" and not value.startswith(".status."):
                yield StatusCause.invalid(fpath, value, "should be a json path under .status")
    for j, column in enumerate(version.additional_printer_columns):
        cpath = f"{path}.additionalPrinterColumns[{j}]"
        if not column.name:
            yield StatusCause.required(f"{cpath}.name")
        if column.type not in COLUMN_TYPES:
            yield StatusCause.not_supported(f"{cpath}.type", column.type, COLUMN_TYPES)
        if not column.json_path:
            yield StatusCause.required(f"{cpath}.jsonPath")
        elif not column.json_path.startswith("."):
            yield StatusCause.invalid(f"{cpath}.jsonPath", column.json_path, "must be a JSON path starting with .")


def validate_crd(crd: CustomResourceDefinition) -> list[StatusCause]:
    """Every problem of a CRD's spec (and its name), in field order."""
    spec = crd.spec
    causes = list(names_causes(crd))
    if spec.scope not in SCOPES:
        causes.append(StatusCause.not_supported("spec.scope", spec.scope, SCOPES) if spec.scope
                      else StatusCause.required("spec.scope"))
    if not spec.versions:
        causes.append(StatusCause.required("spec.versions", "must have exactly one version marked as storage "
                                           "version"))
    seen: set[str] = set()
    for i, version in enumerate(spec.versions):
        if version.name in seen:
            causes.append(StatusCause.duplicate(f"spec.versions[{i}].name", version.name))
        seen.add(version.name)
        causes.extend(_version_causes(i, version))
    storage = [v.name for v in spec.versions if v.storage]
    if spec.versions and len(storage) != 1:
        causes.append(StatusCause.invalid("spec.versions", storage, "must have exactly one version marked as "
                                          "storage version"))
    served = [v.name for v in spec.versions if v.served]
    if len(served) > 1:
        causes.append(StatusCause.invalid("spec.versions", served, "kubelite serves one version per "
                                          "CustomResourceDefinition (it has no conversion between versions); "
                                          "mark only one version served"))
    if spec.conversion is not None and spec.conversion.strategy not in ("None", ""):
        causes.append(StatusCause.not_supported("spec.conversion.strategy", spec.conversion.strategy, ["None"]))
    if spec.preserve_unknown_fields:
        causes.append(StatusCause.invalid("spec.preserveUnknownFields", True, "must be false in v1"))
    return causes


def validate_crd_update(old: CustomResourceDefinition, new: CustomResourceDefinition) -> list[StatusCause]:
    """What may not change: the group, the scope, and the plural (they are the storage key)."""
    causes = []
    if old.spec.group != new.spec.group:
        causes.append(StatusCause.invalid("spec.group", new.spec.group, "field is immutable"))
    if old.spec.scope != new.spec.scope:
        causes.append(StatusCause.invalid("spec.scope", new.spec.scope, "field is immutable"))
    if old.spec.names.plural != new.spec.names.plural:
        causes.append(StatusCause.invalid("spec.names.plural", new.spec.names.plural, "field is immutable"))
    return causes

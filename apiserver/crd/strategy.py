"""Write-path rules of CustomResourceDefinitions and of the custom objects they define.

CRDs: the apiserver owns their status (conditions, accepted names) and puts a
cleanup finalizer on each, so deleting a CRD first deletes its objects
(`controller`). Custom objects: pruned, defaulted and validated against the
schema on every write; with a `status` subresource, main-resource writes keep
the stored status and status writes keep everything else, and `generation`
counts only changes outside metadata and status.
"""

from __future__ import annotations

import copy
from typing import Any

from apiserver import objects
from apiserver.crd.definition import validate_crd, validate_crd_update
from apiserver.crd.structural import normalize
from apiserver.crd.validate import validate_object
from apiserver.fieldvalidation import STRICT, field_policy
from apiserver.strategy.base import StatusStrategy, Strategy
from kubelite.api.apiextensions import (
    CLEANUP_FINALIZER,
    CustomResourceConversion,
    CustomResourceDefinition,
    CustomResourceDefinitionStatus,
)
from kubelite.api.custom import CustomKind, content, set_content
from kubelite.api.errors import BadRequest, Invalid, NotFound
from kubelite.api.meta import Resource
from kubelite.api.registry import KindInfo


class CrdStrategy(StatusStrategy[CustomResourceDefinition, CustomResourceDefinitionStatus]):
    def __init__(self, info: KindInfo) -> None:
        super().__init__(info, CustomResourceDefinition)

    def status(self, obj: CustomResourceDefinition) -> CustomResourceDefinitionStatus:
        return obj.status

    def set_status(self, obj: CustomResourceDefinition, status: CustomResourceDefinitionStatus) -> None:
        obj.status = status

    def initial_status(self) -> CustomResourceDefinitionStatus:
        return CustomResourceDefinitionStatus()

    def on_create(self, obj: CustomResourceDefinition) -> None:
        super().on_create(obj)
        if CLEANUP_FINALIZER not in obj.metadata.finalizers:
            obj.metadata.finalizers.append(CLEANUP_FINALIZER)

    def validate(self, obj: Resource, old: Resource | None = None) -> None:
        crd = self.narrow(obj)
        names = crd.spec.names
        if names.kind:
            names.singular = names.singular or names.kind.lower()
            names.list_kind = names.list_kind or f"{names.kind}List"
        if crd.spec.conversion is None:
            crd.spec.conversion = CustomResourceConversion()
        objects.check_valid(self.info, crd, old)
        causes = validate_crd(crd)
        if old is not None:
            causes += validate_crd_update(self.narrow(old), crd)
        if causes:
            raise Invalid.for_object(self.info.kind, crd.metadata.name, causes)


class CustomResourceStrategy(Strategy[Any]):
    """The strategy of one custom kind (`KindInfo.custom` says its schema and subresources)."""

    def __init__(self, info: KindInfo) -> None:
        super().__init__(info, info.model)
        if info.custom is None:
            raise TypeError(f"{info.kind} is not a custom kind")
        self.custom: CustomKind = info.custom

    def on_create(self, obj: Resource) -> None:
        if self.custom.status:
            content(obj).pop("status", None)

    def validate(self, obj: Resource, old: Resource | None = None) -> None:
        objects.check_valid(self.info, obj, old)
        data = copy.deepcopy(content(obj))
        dropped: list[str] = []
        normalize(self.custom.schema, data, dropped)
        policy = field_policy.get()
        if dropped and (policy is None or policy.mode == STRICT):
            unknown = ", ".join(f'unknown field "{path}"' for path in dropped)
            raise BadRequest(f"strict decoding error: {unknown}")
        if policy is not None:
            policy.dropped.extend(path for path in dropped if path not in policy.dropped)
        causes = validate_object(self.custom.schema, data)
        if causes:
            raise Invalid.for_object(self.info.kind, obj.metadata.name, causes)
        set_content(obj, data)

    def carry_status(self, old: Resource, new: Resource) -> None:
        if not self.custom.status:
            return
        status = content(old).get("status")
        if status is None:
            content(new).pop("status", None)
        else:
            content(new)["status"] = copy.deepcopy(status)

    def prepare_for_update(self, old: Resource, new: Resource) -> None:
        super().prepare_for_update(old, new)
        if not self.custom.status and content(old).get("status") != content(new).get("status") \
                and new.metadata.generation == old.metadata.generation:
            new.metadata.generation = (old.metadata.generation or 1) + 1

    def prepare_for_status_update(self, old: Resource, new: Resource) -> Resource:
        if not self.custom.status:
            raise NotFound(f"{self.info.qualified_resource} have no status subresource")
        result = old.model_copy(deep=True)
        status = content(new).get("status")
        if status is None:
            content(result).pop("status", None)
        else:
            content(result)["status"] = copy.deepcopy(status)
        result.metadata.resource_version = None
        self.validate(result, old)
        return result

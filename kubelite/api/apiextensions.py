"""`apiextensions.k8s.io/v1` CustomResourceDefinition: the kind that adds kinds.

Why typed like every built-in kind: a CRD's names, versions, scope and
subresources are read by the apiserver (to serve the new kind), by kctl (to
resolve `kctl get <plural>`) and by the controller-manager (to garbage-collect
custom objects), so they get one model with field-path errors. The
`openAPIV3Schema` stays a plain dict: it is a recursive JSON-Schema document,
checked by `apiserver.crd.schema` with the structural-schema rules.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kubelite.api.base import KubeModel
from kubelite.api.meta import Resource

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


class CustomResourceDefinitionNames(KubeModel):
    plural: str = ""
    singular: str | None = None
    kind: str = ""
    list_kind: str | None = None
    short_names: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)


class CustomResourceValidation(KubeModel):
    open_api_v3_schema: dict[str, Any] | None = Field(default=None, alias="openAPIV3Schema")


class CustomResourceSubresourceScale(KubeModel):
    spec_replicas_path: str = ""
    status_replicas_path: str = ""
    label_selector_path: str | None = None


class CustomResourceSubresources(KubeModel):
    status: dict[str, Any] | None = None
    scale: CustomResourceSubresourceScale | None = None


class CustomResourceColumnDefinition(KubeModel):
    name: str = ""
    type: str = ""
    format: str | None = None
    description: str | None = None
    priority: int | None = None
    json_path: str = ""


class SelectableField(KubeModel):
    json_path: str = ""


class CustomResourceDefinitionVersion(KubeModel):
    name: str = ""
    served: bool = False
    storage: bool = False
    deprecated: bool | None = None
    deprecation_warning: str | None = None
    validation_schema: CustomResourceValidation | None = Field(default=None, alias="schema")
    subresources: CustomResourceSubresources | None = None
    additional_printer_columns: list[CustomResourceColumnDefinition] = Field(default_factory=list)
    selectable_fields: list[SelectableField] = Field(default_factory=list)


class CustomResourceConversion(KubeModel):
    strategy: str = "None"
    webhook: dict[str, Any] | None = None


class CustomResourceDefinitionSpec(KubeModel):
    group: str = ""
    names: CustomResourceDefinitionNames = Field(default_factory=CustomResourceDefinitionNames)
    scope: str = ""
    versions: list[CustomResourceDefinitionVersion] = Field(default_factory=list)
    conversion: CustomResourceConversion | None = None
    preserve_unknown_fields: bool | None = None


class CustomResourceDefinitionCondition(KubeModel):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class CustomResourceDefinitionStatus(KubeModel):
    conditions: list[CustomResourceDefinitionCondition] = Field(default_factory=list)
    accepted_names: CustomResourceDefinitionNames | None = None
    stored_versions: list[str] = Field(default_factory=list)

    def condition(self, kind: str) -> CustomResourceDefinitionCondition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    def is_true(self, kind: str) -> bool:
        cond = self.condition(kind)
        return cond is not None and cond.status == "True"


class CustomResourceDefinition(Resource):
    api_version: str = "apiextensions.k8s.io/v1"
    kind: str = "CustomResourceDefinition"
    spec: CustomResourceDefinitionSpec = Field(default_factory=CustomResourceDefinitionSpec)
    status: CustomResourceDefinitionStatus = Field(default_factory=CustomResourceDefinitionStatus)

    def served_version(self) -> CustomResourceDefinitionVersion | None:
        """The one version kubelite serves (CRD validation allows exactly one served version)."""
        return next((v for v in self.spec.versions if v.served), None)

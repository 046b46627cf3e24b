"""CRD validation (names, scope, versions, structural schema) and the status the apiserver writes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.crd.controller import desired_status
from apiserver.crd.definition import validate_crd, validate_crd_update
from apiserver.crd.schema import schema_causes
from kubelite.api.apiextensions import CustomResourceDefinition

BASE: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]},
}


def crd(change: Any = None) -> CustomResourceDefinition:
    data = copy.deepcopy(BASE)
    if change is not None:
        change(data)
    return CustomResourceDefinition.from_dict(data)


def fields(c: CustomResourceDefinition) -> list[str]:
    return [cause.field for cause in validate_crd(c)]


def test_a_good_crd_has_no_causes() -> None:
    assert fields(crd()) == []


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["metadata"].update(name="other.example.com"), "metadata.name"),
    (lambda d: d["spec"].update(group="nodot"), "spec.group"),
    (lambda d: d["spec"].update(scope="Galaxy"), "spec.scope"),
    (lambda d: d["spec"]["names"].update(plural="Widgets"), "spec.names.plural"),
    (lambda d: d["spec"]["names"].update(kind="my-widget"), "spec.names.kind"),
    (lambda d: d["spec"]["versions"][0].update(storage=False), "spec.versions"),
    (lambda d: d["spec"]["versions"].append({**d["spec"]["versions"][0], "name": "v2", "storage": False}),
     "spec.versions"),
    (lambda d: d["spec"]["versions"][0].pop("schema"), "spec.versions[0].schema.openAPIV3Schema"),
    (lambda d: d["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].update(
        size={"type": "int"}), "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type"),
    (lambda d: d["spec"]["versions"][0].update(additionalPrinterColumns=[{"name": "S", "type": "int",
                                                                          "jsonPath": ".spec.size"}]),
     "spec.versions[0].additionalPrinterColumns[0].type"),
    (lambda d: d["spec"]["versions"][0].update(subresources={"scale": {"specReplicasPath": ".status.x",
                                                                       "statusReplicasPath": ".status.y"}}),
     "spec.versions[0].subresources.scale.specReplicasPath"),
    (lambda d: d["spec"].update(conversion={"strategy": "Webhook"}), "spec.conversion.strategy"),
])
def test_bad_crds_name_the_field(change: Any, field: str) -> None:
    assert field in fields(crd(change))


@pytest.mark.parametrize(("schema", "field"), [
    ({"type": "string"}, "s.type"),
    ({"type": "object", "properties": {"a": {}}}, "s.properties[a].type"),
    ({"type": "object", "properties": {"a": {"type": "array"}}}, "s.properties[a].items"),
    ({"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}},
     "s.properties[a].items"),
    ({"type": "object", "$ref": "#/x"}, "s.$ref"),
    ({"type": "object", "x-kubernetes-validations": [{"rule": "self.a > 0"}]}, "s.x-kubernetes-validations"),
    ({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}, "s.properties[a].pattern"),
    ({"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}}, "s.properties[a].default"),
    ({"type": "object", "properties": {"a": {"type": "integer", "x-kubernetes-int-or-string": True}}},
     "s.properties[a].type"),
])
def test_non_structural_schemas_are_refused(schema: dict[str, Any], field: str) -> None:
    assert field in [c.field for c in schema_causes(schema, "s")]


def test_structural_extensions_are_accepted() -> None:
    schema = {"type": "object", "properties": {
        "p": {"x-kubernetes-int-or-string": True}, "free": {"x-kubernetes-preserve-unknown-fields": True},
        "n": {"type": "integer", "default": 3, "minimum": 1},
        "one": {"type": "object", "properties": {"a": {"type": "string"}}, "oneOf": [{"required": ["a"]}]}}}
    assert schema_causes(schema, "s") == []


def test_group_scope_and_plural_are_immutable() -> None:
    new = crd(lambda d: d["spec"].update(scope="Cluster"))
    assert [c.field for c in validate_crd_update(crd(), new)] == ["spec.scope"]


def test_status_conditions_keep_their_transition_time_while_unchanged() -> None:
    first = desired_status(crd(), "", False, "2026-01-01T00:00:00Z")
    assert {c.type: c.status for c in first.conditions} == {"NamesAccepted": "True", "Established": "True"}
    assert first.stored_versions == ["v1"] and first.accepted_names is not None
    established = crd()
    established.status = first
    again = desired_status(established, "", False, "2026-02-02T00:00:00Z")
    assert again.to_dict() == first.to_dict()
    conflict = desired_status(established, '"Widget" is already in use', False, "2026-03-03T00:00:00Z")
    names = conflict.condition("NamesAccepted")
    assert names is not None and names.status == "False" and names.last_transition_time == "2026-03-03T00:00:00Z"


def test_the_example_crd_is_valid() -> None:
    from pathlib import Path

    import yaml

    example = Path(__file__).resolve().parents[4] / "examples" / "crd" / "greeting-crd.yaml"
    assert validate_crd(CustomResourceDefinition.from_dict(yaml.safe_load(example.read_text()))) == []

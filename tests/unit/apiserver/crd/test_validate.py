"""Custom objects against structural schemas: validation, pruning, defaulting (pure functions)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.crd.structural import apply_defaults, normalize, prune
from apiserver.crd.validate import validate_object

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object", "required": ["message"],
            "properties": {
                "message": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "port": {"x-kubernetes-int-or-string": True},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "note": {"type": "string", "nullable": True},
                "when": {"type": "string", "format": "date-time"},
                "small": {"type": "integer", "format": "int32"},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "weight": {"type": "integer", "default": 5}}}},
                "embedded": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def obj(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "x.io/v1", "kind": "T", "metadata": {"name": "n"}, "spec": {"message": "ok", **spec}}


def fields(o: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.field, c.reason) for c in validate_object(SCHEMA, normalize(SCHEMA, o))]


@pytest.mark.parametrize(("spec", "expected"), [
    ({}, []),
    ({"replicas": "3"}, [("spec.replicas", "FieldValueTypeInvalid")]),
    ({"replicas": True}, [("spec.replicas", "FieldValueTypeInvalid")]),
    ({"replicas": 11}, [("spec.replicas", "FieldValueInvalid")]),
    ({"replicas": -1}, [("spec.replicas", "FieldValueInvalid")]),
    ({"ratio": 0}, [("spec.ratio", "FieldValueInvalid")]),
    ({"ratio": 0.5}, []),
    ({"mode": "c"}, [("spec.mode", "FieldValueNotSupported")]),
    ({"message": ""}, [("spec.message", "FieldValueInvalid"), ("spec.message", "FieldValueInvalid")]),
    ({"message": "toolong"}, [("spec.message", "FieldValueTooLong")]),
    ({"message": "ABC"}, [("spec.message", "FieldValueInvalid")]),
    ({"port": 80}, []),
    ({"port": "http"}, []),
    ({"port": 1.5}, [("spec.port", "FieldValueTypeInvalid")]),
    ({"tags": []}, [("spec.tags", "FieldValueInvalid")]),
    ({"tags": ["a", "b", "c"]}, [("spec.tags", "FieldValueTooMany")]),
    ({"tags": ["a", 1]}, [("spec.tags[1]", "FieldValueTypeInvalid")]),
    ({"labels": {"a": "b", "c": 1}}, [("spec.labels[c]", "FieldValueTypeInvalid")]),
    ({"note": None}, []),
    ({"when": "2026-01-02T03:04:05Z", "small": 5}, []),
    ({"when": "yesterday"}, [("spec.when", "FieldValueInvalid")]),
    ({"small": 2 ** 31}, [("spec.small", "FieldValueInvalid")]),
    ({"items": [{"name": 3}]}, [("spec.items[0].name", "FieldValueTypeInvalid")]),
    ({"embedded": {"metadata": {}}}, [("spec.embedded.apiVersion", "FieldValueRequired"),
                                      ("spec.embedded.kind", "FieldValueRequired")]),
])
def test_validation_names_the_field(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert fields(obj(**spec)) == expected


def test_required_field_and_wrong_type_of_a_whole_object() -> None:
    o = obj()
    del o["spec"]["message"]
    assert fields(o) == [("spec.message", "FieldValueRequired")]
    assert fields({**obj(), "spec": "nope"}) == [("spec", "FieldValueTypeInvalid")]


def test_pruning_drops_unknown_fields_but_keeps_preserved_and_object_metadata() -> None:
    o = obj(unknown=1, free={"anything": {"goes": [1]}}, items=[{"name": "a", "junk": True}],
            embedded={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}})
    o["top"] = "level"
    o["status"] = {"whatever": 1}
    pruned = prune(SCHEMA, copy.deepcopy(o), root=True)
    assert "unknown" not in pruned["spec"] and "top" not in pruned
    assert pruned["spec"]["free"] == {"anything": {"goes": [1]}}
    assert pruned["spec"]["items"] == [{"name": "a"}]
    assert pruned["spec"]["embedded"]["metadata"] == {"name": "p"}
    assert pruned["metadata"] == {"name": "n"} and pruned["status"] == {"whatever": 1}


def test_nulls_are_dropped_unless_nullable_then_defaults_fill_in() -> None:
    o = obj(replicas=None, note=None)
    normalize(SCHEMA, o)
    assert o["spec"]["replicas"] == 1  # null dropped, then defaulted
    assert o["spec"]["note"] is None  # nullable: kept


def test_defaults_apply_in_lists_and_do_not_override_values() -> None:
    o = obj(replicas=0, items=[{"name": "a"}, {"name": "b", "weight": 1}])
    apply_defaults(SCHEMA, o)
    assert o["spec"]["replicas"] == 0 and o["spec"]["mode"] == "a"
    assert [i["weight"] for i in o["spec"]["items"]] == [5, 1]


def test_no_schema_accepts_anything() -> None:
    assert validate_object(None, {"spec": 1}) == []

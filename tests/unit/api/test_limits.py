"""Shape and size limits: nesting depth (kctl and the apiserver), ConfigMap/Secret data, annotations."""

from __future__ import annotations

import base64

import pytest

from apiserver.objects import parse_body
from kubectl.manifests import parse_documents
from kubelite.api import ConfigMap, Secret
from kubelite.api.defaults import apply_defaults
from kubelite.api.errors import BadRequest
from kubelite.api.limits import MAX_NESTING_DEPTH, TOO_DEEP, shape_error
from kubelite.api.validation import validate


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return {"a": value} if depth else value


def test_nesting_limit_is_exact_and_needs_no_recursion() -> None:
    assert shape_error(nested(MAX_NESTING_DEPTH)) is None
    assert shape_error(nested(MAX_NESTING_DEPTH + 1)) == TOO_DEEP
    deep: list[object] = []
    for _ in range(200_000):  # far past Python's recursion limit
        deep = [deep]
    assert shape_error(deep) == TOO_DEEP


def test_apiserver_refuses_deep_bodies_with_400() -> None:
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 500 + b"1" + b"}" * 500):
        with pytest.raises(BadRequest, match="nested too deeply"):
            parse_body(raw)


def test_kctl_reports_deep_manifests_instead_of_crashing() -> None:
    _, errors = parse_documents("deep.yaml", "a: " + "[" * 20_000 + "]" * 20_000)
    assert errors == [f"deep.yaml: document 1: invalid YAML: {TOO_DEEP}"]
    _, errors = parse_documents("deep.json", "[" * 100_000 + "]" * 100_000)
    assert errors == [f"deep.json: document 1: invalid JSON: {TOO_DEEP}"]
    docs, errors = parse_documents("ok.yaml", "kind: ConfigMap\n---\n" + "a: " + "[" * 150 + "]" * 150)
    assert errors == [f"ok.yaml: document 2: invalid YAML: {TOO_DEEP}"]
    docs, errors = parse_documents("block.yaml", "kind: ConfigMap\n---\na:\n" + "".join(
        "  " * i + f"k{i}:\n" for i in range(1, 150)) + "  " * 150 + "v: 1\n")
    assert len(docs) == 1 and errors == [f"block.yaml: document 2: {TOO_DEEP}"]


def test_config_data_is_limited_to_1_mib_counting_decoded_bytes() -> None:
    limit = 1024 * 1024
    fits = ConfigMap.from_dict({"metadata": {"name": "c"}, "data": {"k": "x" * (limit - 1)}})
    assert validate(fits) == []
    too_big = ConfigMap.from_dict({"metadata": {"name": "c"}, "data": {"k": "x" * limit},
                                   "binaryData": {"b": base64.b64encode(b"yy").decode()}})
    assert [str(c) for c in validate(too_big)] == ["Too long: must have at most 1048576 bytes"]
    secret = Secret.from_dict({"metadata": {"name": "s"}, "stringData": {"k": "x" * limit}})
    apply_defaults(secret)  # stringData becomes base64 data: still its decoded size that counts
    assert [str(c) for c in validate(secret)] == ["Too long: must have at most 1048576 bytes"]


def test_annotations_are_limited_to_256_kib() -> None:
    cm = ConfigMap.from_dict({"metadata": {"name": "c", "annotations": {"a": "x" * (256 * 1024)}}})
    assert [str(c) for c in validate(cm)] == ["metadata.annotations: Too long: must have at most 262144 bytes"]

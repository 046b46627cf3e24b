"""Shapes no object has, found cheaply before they reach recursive or encoding code, and errors
cut to fit gRPC metadata."""

from __future__ import annotations

import json
import time

import pytest

from kubelite.api.errors import Invalid, NotFound, StatusCause
from kubelite.api.limits import BAD_TEXT, TOO_DEEP, shape_error, yaml_nesting_error, yaml_too_deep_at
from kubelite.wire.statusfit import STATUS_BUDGET, fit_for_metadata


@pytest.mark.parametrize("value", [{"a": "\ud800"}, {"\udc00": 1}, ["ok", ["\udfff x"]]])
def test_lone_surrogates_are_refused(value: object) -> None:
    assert shape_error(value) == BAD_TEXT
    assert shape_error({"a": "名前 💥 \u202e"}) is None


@pytest.mark.parametrize(("text", "deep"), [
    ("a: " + "[" * 101, True), ("a: " + "[" * 100 + "]" * 100, False), ("a:\n- " + "{a: " * 101, True),
    ("a: '" + "[" * 200 + "'", False), ('a: "\\"' + "[" * 200 + '"', False), ("# " + "[" * 200, False),
    ("a: x" + "[" * 200, False), ("k: [a[[[[" + "[" * 200 + "]", False),
])
def test_yaml_flow_nesting_is_measured_without_parsing(text: str, deep: bool) -> None:
    assert (yaml_nesting_error(text) == TOO_DEEP) is deep


def test_the_scan_is_linear() -> None:
    text = "data: " + "[" * 100_000 + "]" * 100_000
    start = time.monotonic()
    assert yaml_too_deep_at(text) == len("data: ") + 100
    assert yaml_too_deep_at(text.encode()) is not None
    assert time.monotonic() - start < 1


def test_errors_too_big_for_grpc_metadata_are_clipped() -> None:
    small = NotFound('pods "x" not found')
    assert fit_for_metadata(small) is small
    huge = Invalid("Pod is invalid: apiVersion: " + "h" * 300_000,
                   [StatusCause.invalid("apiVersion", "h" * 300_000, "bad")] * 40, name="p" * 1000, kind="Pod")
    fitted = fit_for_metadata(huge)
    assert isinstance(fitted, Invalid) and fitted.code == 422
    assert len(json.dumps(fitted.to_status())) + 3 * len(fitted.message) <= STATUS_BUDGET
    assert fitted.message.startswith("Pod is invalid: apiVersion: hhh") and "more characters)" in fitted.message
    assert fitted.causes[0].field == "apiVersion" and fitted.causes[-1].message == "and 24 more errors"

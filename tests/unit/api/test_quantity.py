"""Resource quantities: every suffix family, rounding, errors, formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kubelite.api.quantity import (
    cpu_millis,
    format_cpu_millis,
    format_memory,
    format_memory_human,
    is_valid,
    memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize("text,value", [
    ("0", "0"), ("1", "1"), ("1.5", "1.5"), (".5", "0.5"), ("+2", "2"), ("-1", "-1"),
    ("500m", "0.5"), ("100u", "0.0001"), ("3n", "0.000000003"),
    ("1k", "1000"), ("2M", "2000000"), ("1G", "1000000000"), ("1T", "1e12"), ("1P", "1e15"), ("1E", "1e18"),
    ("1Ki", "1024"), ("128Mi", str(128 * 2**20)), ("1Gi", str(2**30)), ("1Ti", str(2**40)), ("1Pi", str(2**50)),
    ("1Ei", str(2**60)), ("1e3", "1000"), ("1E3", "1000"), ("5e-3", "0.005"), ("1.5Gi", str(3 * 2**29)),
])
def test_parse_quantity(text: str, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


def test_cpu_and_memory_helpers() -> None:
    assert cpu_millis("500m") == 500 and cpu_millis("2") == 2000 and cpu_millis("0.1") == 100
    assert cpu_millis("1.0005") == 1001  # rounds up like Kubernetes' MilliValue
    assert cpu_millis(1) == 1000 and cpu_millis("100u") == 1
    assert memory_bytes("128Mi") == 134217728 and memory_bytes("1G") == 10**9
    assert memory_bytes("1e3") == 1000 and memory_bytes(" 64Mi ") == 64 * 2**20
    assert memory_bytes("0.5") == 1


@pytest.mark.parametrize("text", ["", "abc", "1Mb", "Mi", "1.2.3", "1 Mi", "--1", "1e", "1Kii", "1e999"])
def test_bad_quantities_raise_value_error_with_the_input(text: str) -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        parse_quantity(text)
    assert not is_valid(text)


def test_bool_is_not_a_quantity() -> None:
    with pytest.raises(ValueError):
        parse_quantity(True)


def test_formatting() -> None:
    assert format_cpu_millis(500) == "500m" and format_cpu_millis(2000) == "2" and format_cpu_millis(0) == "0"
    assert format_memory(134217728) == "128Mi" and format_memory(2**30) == "1Gi"
    assert format_memory(1000) == "1000" and format_memory(0) == "0"
    assert format_memory_human(3 * 2**29) == "1.5Gi" and format_memory_human(512) == "512"
    assert memory_bytes(format_memory(123 * 2**20)) == 123 * 2**20

"""Printer columns of custom kinds: the JSONPath subset and the table they make."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubelite.api.columns import table_for
from kubelite.api.custom import CustomKind, PrinterColumn
from kubelite.api.printercolumns import evaluate, table_spec

OBJ: dict[str, Any] = {
    "metadata": {"name": "w", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"a.b/c": "x"}},
    "spec": {"size": 3, "tags": ["p", "q"], "on": True},
    "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]},
}


@pytest.mark.parametrize(("path", "values"), [
    (".spec.size", [3]),
    ("{.spec.size}", [3]),
    (".spec.tags[*]", ["p", "q"]),
    (".spec.tags[1]", ["q"]),
    (".spec.tags[-1]", ["q"]),
    (".spec.missing", []),
    (".status.conditions[?(@.type==\"Ready\")].status", ["True"]),
    (".status.conditions[?(@.type!='Ready')].type", ["Synced"]),
    (".metadata.labels['a.b/c']", ["x"]),
])
def test_jsonpath(path: str, values: list[Any]) -> None:
    assert evaluate(OBJ, path) == values


def test_unsupported_jsonpath_is_an_error() -> None:
    with pytest.raises(ValueError):
        evaluate(OBJ, ".spec..size")


def test_table_has_printer_columns_then_age_and_wide_columns_by_priority() -> None:
    custom = CustomKind("widgets.x.io", "uid", None, columns=(
        PrinterColumn("Size", "integer", ".spec.size"), PrinterColumn("On", "boolean", ".spec.on"),
        PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', priority=1),
        PrinterColumn("Missing", "string", ".spec.nope")))
    now = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    header, rows = table_for("Widget", [OBJ], spec=table_spec(custom), now=now, wide=True)
    assert header == ["NAME", "SIZE", "ON", "MISSING", "AGE", "READY"]
    assert rows == [["w", "3", "true", "<none>", "5m", "True"]]

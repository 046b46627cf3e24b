"""The columns of a custom kind's table: the CRD's `additionalPrinterColumns`, then AGE.

Why shared (apiserver and kctl): the server's `as=Table` answer (what real
kubectl prints) and kctl's own table must show the same columns for the same
object, like the built-in kinds' `columns.TABLES`. A column is a JSONPath into
the object; the subset of Kubernetes' JSONPath that CRDs use is evaluated here:
`.a.b`, `['a.b']`, `[0]`, `[*]` and filters `[?(@.type=="Ready")]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kubelite.api.columns import NONE, TableSpec, age, dig
from kubelite.api.custom import CustomKind, PrinterColumn

_TOKEN = re.compile(r"""\.([A-Za-z0-9_\-$]+)|\[(\*|-?\d+|'[^']*'|"[^"]*"|\?\(@\.([A-Za-z0-9_.\-]+)\s*(==|!=)\s*("""
                    r"""'[^']*'|"[^"]*"|[^)\s]+)\s*\))\]""")


def _steps(path: str) -> list[tuple[str, Any]]:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    text = text.lstrip("$")
    steps: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unsupported JSONPath {path!r} at {text[pos:]!r}")
        field, bracket, fpath, op, fvalue = m.groups()
        if field is not None:
            steps.append(("key", field))
        elif fpath is not None:
            value: Any = fvalue.strip("'\"") if fvalue[:1] in "'\"" else _literal(fvalue)
            steps.append(("filter", (fpath.split("."), op, value)))
        elif bracket == "*":
            steps.append(("all", None))
        elif bracket[:1] in "'\"":
            steps.append(("key", bracket[1:-1]))
        else:
            steps.append(("index", int(bracket)))
        pos = m.end()
    return steps


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def evaluate(obj: Any, path: str) -> list[Any]:
    """Every value `path` selects in `obj` (empty when nothing matches)."""
    current = [obj]
    for kind, arg in _steps(path):
        nxt: list[Any] = []
        for value in current:
            if kind == "key" and isinstance(value, dict) and arg in value:
                nxt.append(value[arg])
            elif kind == "index" and isinstance(value, list) and -len(value) <= arg < len(value):
                nxt.append(value[arg])
            elif kind == "all" and isinstance(value, list):
                nxt.extend(value)
            elif kind == "all" and isinstance(value, dict):
                nxt.extend(value.values())
            elif kind == "filter" and isinstance(value, list):
                keys, op, want = arg
                for item in value:
                    got = dig(item, *keys)
                    if got is not None and ((got == want) if op == "==" else (got != want)):
                        nxt.append(item)
        current = nxt
    return current


def cell(obj: Any, column: PrinterColumn, now: datetime) -> str:
    """One column's text for `obj` (`<none>` when the path selects nothing, ages for dates)."""
    try:
        values = [v for v in evaluate(obj, column.json_path) if v is not None]
    except ValueError:
        return NONE
    if not values:
        return NONE
    if column.type == "date" and isinstance(values[0], str):
        return age(values[0], now)
    return ",".join(_text(v) for v in values)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _columns(custom: CustomKind) -> tuple[list[PrinterColumn], list[PrinterColumn]]:
    """(shown always, shown with -o wide); AGE is added unless the CRD names an Age column itself."""
    main = [c for c in custom.columns if c.priority == 0]
    wide = [c for c in custom.columns if c.priority != 0]
    if not any(c.name.lower() == "age" for c in custom.columns):
        main.append(PrinterColumn("Age", "date", ".metadata.creationTimestamp"))
    return main, wide


def table_spec(custom: CustomKind) -> TableSpec:
    """The custom kind's columns as a `columns.TableSpec` (header names upper-cased like kubectl)."""
    main, wide = _columns(custom)

    def row(columns: Sequence[PrinterColumn]) -> Any:
        return lambda obj, now: [cell(obj, c, now) for c in columns]

    return TableSpec([c.name.upper() for c in main], row(main), [c.name.upper() for c in wide],
                     row(wide) if wide else None)


def column_types(custom: CustomKind) -> list[tuple[str, str, str]]:
    """(type, format, description) of each column in `table_spec` order (main, then wide)."""
    main, wide = _columns(custom)
    return [(c.type, c.format, c.description) for c in [*main, *wide]]

"""`-o custom-columns=HEADER:.path,...`: a table whose columns are JSONPath expressions.

Why its own module: the spec grammar (comma-separated `HEADER:EXPR`, relaxed paths) and the
`<none>` cell for missing values are kubectl's, shared by `get` and every command with `-o`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubectl import jsonpath, printers
from kubectl.errors import CliError


def parse_spec(spec: str) -> list[tuple[str, str]]:
    """`NAME:.metadata.name,IMAGE:.spec.containers[*].image` -> [(header, expression)]."""
    columns: list[tuple[str, str]] = []
    for part in spec.split(","):
        header, sep, expression = part.partition(":")
        if not sep or not header or not expression:
            raise CliError(f"custom-columns format specified but no custom columns given: {part!r} "
                           "(expected HEADER:.json.path)")
        try:
            jsonpath.parse(jsonpath.relaxed(expression))
        except jsonpath.JSONPathError as exc:
            raise CliError(f"invalid custom-columns expression {expression!r}: {exc}") from None
        columns.append((header, expression))
    if not columns:
        raise CliError("custom-columns format specified but no custom columns given")
    return columns


def go_value(value: Any) -> str:
    """Go's `%v` of a decoded JSON value, which custom-columns cells use: maps as `map[k:v]`
    (keys sorted), lists as `[a b]` -- unlike `-o jsonpath`, which prints JSON."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    return jsonpath.format_value(value)


def cell(expression: str, obj: Any) -> str:
    values = jsonpath.values_at(expression, obj)
    if not values or all(v is None for v in values):
        return "<none>"
    return ",".join(go_value(v) for v in values)


def render(spec: str, objs: Sequence[Any], headers: bool = True) -> str:
    """The whole table as text with a trailing newline (empty when there is nothing to show)."""
    columns = parse_spec(spec)
    rows = [[cell(expr, obj) for _, expr in columns] for obj in objs]
    text, _ = printers.render([h for h, _ in columns] if headers else None, rows)
    return text + "\n" if text else ""

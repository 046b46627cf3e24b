"""Human tables for `kctl get`: the per-kind columns (shared with the apiserver) and their layout.

The columns live in `kubelite.api.columns` so the apiserver's Table output and
kctl agree; this module re-exports them for kctl and lays the cells out.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.api.columns import (
    EVENT_COLUMNS,
    GENERIC,
    NONE,
    TABLES,
    Obj,
    RowFn,
    age,
    as_dict,
    as_list,
    dig,
    endpoints_text,
    event_time,
    human_duration,
    labels_text,
    node_address,
    node_roles,
    node_status,
    num,
    pod_ready,
    pod_restarts,
    pod_status,
    selector_text,
    service_ports,
    table_for,
    template_containers,
)

__all__ = [
    "EVENT_COLUMNS",
    "GENERIC",
    "NONE",
    "Obj",
    "RowFn",
    "TABLES",
    "age",
    "as_dict",
    "as_list",
    "dig",
    "endpoints_text",
    "event_time",
    "human_duration",
    "labels_text",
    "node_address",
    "node_roles",
    "node_status",
    "num",
    "pod_ready",
    "pod_restarts",
    "pod_status",
    "selector_text",
    "service_ports",
    "table_for",
    "template_containers",
    "column_widths",
    "format_row",
    "render",
]


def column_widths(rows: Sequence[Sequence[str]]) -> list[int]:
    widths: list[int] = []
    for row in rows:
        for i, cell in enumerate(row):
            if i >= len(widths):
                widths.append(0)
            widths[i] = max(widths[i], len(cell))
    return widths


def format_row(row: Sequence[str], widths: Sequence[int], gap: int = 3) -> str:
    """One line with every column but the last padded to its width (tabwriter style)."""
    cells = []
    for i, cell in enumerate(row):
        last = i == len(row) - 1
        width = widths[i] if i < len(widths) else len(cell)
        cells.append(cell if last else cell.ljust(width + gap))
    return "".join(cells).rstrip()


def render(header: Sequence[str] | None, rows: Sequence[Sequence[str]]) -> tuple[str, list[int]]:
    """The table as text (no trailing newline) and the column widths used (for watch rows)."""
    all_rows = ([list(header)] if header else []) + [list(r) for r in rows]
    widths = column_widths(all_rows)
    return "\n".join(format_row(r, widths) for r in all_rows), widths

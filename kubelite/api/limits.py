"""Shape limits every client and the apiserver apply to a decoded document.

Why a shared module: a manifest nested thousands of levels deep is never a real
object, but it makes recursive code (validation, deep copies, JSON encoding)
fail with a RecursionError. `kctl` and the apiserver refuse it with the same
clear message, right after parsing, before any recursive code sees it.
"""

from __future__ import annotations

from typing import Any

MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024
"""Largest request body the apiserver reads, over gRPC and HTTP (Kubernetes' --max-request-body-bytes default)."""

MAX_NESTING_DEPTH = 100
"""Deepest nesting of maps and lists accepted; real objects stay well under 30."""

TOO_DEEP = f"the object is nested too deeply: more than {MAX_NESTING_DEPTH} levels of maps and lists"


def nesting_error(value: Any) -> str | None:
    """A message if `value` nests maps/lists deeper than `limit` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_NESTING_DEPTH:
            return TOO_DEEP
        stack.extend((child, depth + 1) for child in children)
    return None

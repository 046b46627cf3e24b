"""Shape limits every client and the apiserver apply to a decoded document.

Why a shared module: a manifest nested thousands of levels deep is never a real
object, but it makes recursive code (validation, deep copies, JSON encoding)
fail with a RecursionError; a string with a lone surrogate escape decodes but
can never be encoded as UTF-8 again. `kctl` and the apiserver refuse it with the same
clear message, right after parsing, before any recursive code sees it.
"""

from __future__ import annotations

from typing import Any

MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024
"""Largest request body the apiserver reads, over gRPC and HTTP (Kubernetes' --max-request-body-bytes default)."""

MAX_NESTING_DEPTH = 100
"""Deepest nesting of maps and lists accepted; real objects stay well under 30."""

TOO_DEEP = f"the object is nested too deeply: more than {MAX_NESTING_DEPTH} levels of maps and lists"


def _unpaired_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


BAD_TEXT = ("a string is not valid Unicode: it holds an unpaired UTF-16 surrogate (a \\ud800-\\udfff escape "
            "that is not part of a pair)")


def shape_error(value: Any) -> str | None:
    """A message if `value` nests maps/lists deeper than MAX_NESTING_DEPTH, or holds a key or
    string that is not Unicode text (a lone surrogate escape, which JSON decoders accept but no
    UTF-8 encoder can write back: storing or answering with it would fail). Checked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _unpaired_surrogate(item):
                return BAD_TEXT
            continue
        if isinstance(item, dict):
            if any(isinstance(k, str) and _unpaired_surrogate(k) for k in item):
                return BAD_TEXT
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_NESTING_DEPTH:
            return TOO_DEEP
        stack.extend((child, depth + 1) for child in children)
    return None

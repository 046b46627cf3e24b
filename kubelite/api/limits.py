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



def yaml_nesting_error(text: str | bytes) -> str | None:
    """TOO_DEEP if a YAML text opens flow collections (`[`, `{`) deeper than MAX_NESTING_DEPTH."""
    return None if yaml_too_deep_at(text) is None else TOO_DEEP


def yaml_too_deep_at(text: str | bytes) -> int | None:
    """Where (character offset) a YAML text first opens flow collections (`[`, `{`) deeper than
    MAX_NESTING_DEPTH, or None.

    Why a scan of the text before parsing: PyYAML's scanner slows quadratically with flow
    nesting, so 100,000 `[` kept a process busy for many seconds -- the apiserver's event
    loop with it -- before its recursive composer failed. This linear scan skips quoted
    strings and comments and counts a bracket only where YAML starts a collection (after
    `:`, `,`, `-`, another bracket or at the start of a line). Block nesting needs no scan:
    it costs indentation, so the 3 MiB body limit keeps it shallow enough to fail fast."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    depth, quote, prev, i, n = 0, "", "\n", 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"" and prev in " \t\n:,-[{":
            quote = ch
        elif ch == "#" and prev in " \t\n":
            end = text.find("\n", i)
            i = n if end < 0 else end
            prev = "\n"
            continue
        elif ch in "[{" and prev in " \t\n:,-[{":
            depth += 1
            if depth > MAX_NESTING_DEPTH:
                return i
        elif ch in "]}" and depth:
            depth -= 1
        elif ch in "[{":
            ch = "a"  # inside a plain scalar (`x[1]`): text, not a collection
        if ch not in " \t":
            prev = ch
        i += 1
    return None

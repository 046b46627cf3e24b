"""Hypothesis strategies that turn a valid object into the bad input users and attackers send.

Why mutate valid seeds rather than generate random JSON: random JSON dies at the
first check (no apiVersion); a valid object with one or three fields dropped,
retyped, duplicated, pushed past a numeric bound, nested absurdly deep, set to
null or to hostile unicode reaches the validation, defaulting, admission and
storage code behind the first check -- where 500s and half-applied writes hide.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

from kubelite.api.limits import MAX_NESTING_DEPTH
from tests.fuzz.seeds import kinds, seed

Path = tuple[str | int, ...]

class Huge(str):
    """A long string that prints short (Hypothesis shows failing examples)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Huge({len(self)} x {self[:1]!r})"


HOSTILE_NUMBERS: list[Any] = [
    0, -1, 1, -(2**31) - 1, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**40,
    1e12, -1e12, 0.5, -0.0, 1e308, float("nan"), float("inf"), float("-inf"),
]
HOSTILE_STRINGS: list[str] = [
    "", " ", "\x00", "\n", "a" * 254, "a" * 64, Huge("x" * 70_000), "../../etc/passwd", "名前", "Ünïcödé", "\u202e",
    "\ud800", "\udfff", "💥", "-", "UPPER", "1Gi", "-1", "1e400", "0x10", "${HOME}", "null", "true", "10.0.0.1/33",
    "*", "a/b", ":", "1.5", "9" * 40, "300m", "-5Gi", "NaN",
]
# Structured values stay under Python's recursion limit (the test's own json/deepcopy recurse);
# far deeper input is sent as text (`garbage`, and the regression tests).
DEPTHS = [MAX_NESTING_DEPTH - 2, MAX_NESTING_DEPTH, MAX_NESTING_DEPTH + 1, 300]


class DeepList(list[Any]):
    """The outer list of a deeply nested value: printed short (Hypothesis's printer recurses)."""

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(f"<a list nested {nesting(self)} deep>")


class DeepDict(dict[str, Any]):
    """The outer map of a deeply nested value: printed short."""

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(f"<a map nested {nesting(self)} deep>")


def nesting(value: Any) -> int:
    depth = 0
    while isinstance(value, (list, dict)) and value:
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        depth += 1
    return depth


def deep(depth: int, as_list: bool) -> Any:
    """A value nested `depth` levels of lists or maps (built without recursion)."""
    value: Any = 1
    for _ in range(depth - 2):
        value = [value] if as_list else {"a": value}
    return DeepList([value]) if as_list else DeepDict(a=value)


# Any code point but surrogates (lone ones are in HOSTILE_STRINGS, escaped); unlike text()'s utf-8 codec
# default, needs no minute-long table build on a fresh machine.
CHARS = st.characters(exclude_categories=("Cs",))
scalars = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS), st.sampled_from(HOSTILE_STRINGS), st.booleans(), st.none(),
    st.integers(), st.floats(), st.text(CHARS, max_size=16),
)
values = st.one_of(
    scalars,
    st.builds(list), st.builds(dict),  # fresh each time: a later mutation may fill it (st.just would share one)
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(CHARS, max_size=8), scalars, max_size=3),
    st.builds(deep, st.sampled_from(DEPTHS), st.booleans()),
)


def paths(obj: Any, prefix: Path = ()) -> list[Path]:
    """Every path to a value inside `obj` (not the root), parents before children."""
    out: list[Path] = []
    stack: list[tuple[Any, Path]] = [(obj, prefix)]
    while stack:
        value, at = stack.pop()
        items: list[tuple[str | int, Any]] = []
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        for key, child in items:
            out.append((*at, key))
            stack.append((child, (*at, key)))
    return sorted(out, key=lambda p: (len(p), [str(k) for k in p]))


def _parent(obj: Any, path: Path) -> Any:
    for key in path[:-1]:
        obj = obj[key]
    return obj


OPS = ("drop", "null", "retype", "number", "string", "deep", "duplicate", "unknown", "kind", "huge")


@st.composite
def mutated(draw: st.DrawFn, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with one to three mutations applied (never the same object: a deep copy)."""
    out = copy.deepcopy(obj)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(OPS))
        if op == "kind":
            other = seed(draw(st.sampled_from(kinds())), "x")
            key = draw(st.sampled_from(["apiVersion", "kind", "both"]))
            for k in ("apiVersion", "kind") if key == "both" else (key,):
                out[k] = draw(st.one_of(st.just(other[k]), scalars))
            continue
        where = paths(out)
        if not where:
            out[draw(st.text(CHARS, max_size=8))] = draw(values)
            continue
        path = draw(st.sampled_from(where))
        parent, key = _parent(out, path), path[-1]
        current = parent[key]
        if op == "drop":
            del parent[key]
        elif op == "null":
            parent[key] = None
        elif op == "retype":
            value = draw(values)
            parent[key] = value if type(value) is not type(current) else (None if current is not None else 0)
        elif op == "number":
            parent[key] = draw(st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.integers()))
        elif op == "string":
            parent[key] = draw(st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(CHARS, max_size=40)))
        elif op == "deep":
            parent[key] = deep(draw(st.sampled_from(DEPTHS)), draw(st.booleans()))
        elif op == "duplicate":
            if isinstance(current, list) and current:
                current.append(copy.deepcopy(current[draw(st.integers(0, len(current) - 1))]))
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(current))
            elif isinstance(key, str):
                parent[key.upper() if key != key.upper() else key.lower()] = copy.deepcopy(current)
        elif op == "unknown":
            target = current if isinstance(current, dict) else parent
            if isinstance(target, dict):
                target[draw(st.sampled_from(["unknownField", "x", "", "spec", "metadata"]))] = draw(values)
        elif op == "huge":
            parent[key] = Huge("h" * draw(st.sampled_from([1024, 300_000, 1_100_000])))
    return out


def encode(obj: Any, style: str, dup_key: str = "") -> bytes:
    """The bytes a client sends: plain JSON, JSON with a top-level key given twice, non-ASCII
    (lone surrogates become invalid UTF-8) or JSON's NaN/Infinity extensions."""
    if style == "dup" and isinstance(obj, dict) and obj:
        key = dup_key if dup_key in obj else next(iter(obj))
        pairs = [*obj.items(), (key, "duplicate")]
        return ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}").encode()
    if style == "raw-utf8":
        return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(obj).encode()


ENCODINGS = ("json", "json", "json", "dup", "raw-utf8")
garbage = st.one_of(
    st.binary(max_size=200),
    st.text(CHARS, max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"null", b"[]", b"{}", b'""', b"1", b"true", b"{", b'{"kind":', b"\xff\xfe",
                     b'{"apiVersion":"v1","kind":"ConfigMap","metadata":null}',
                     b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":null}}',
                     b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":[1]}',
                     b'{"metadata":{"name":"' + b"\xc3\x28" + b'"}}', b"NaN", b"[" * 10_000,
                     b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b"[" * 100_000 + b"]" * 100_000]),
    st.builds(lambda d, lst: json.dumps(deep(d, lst)).encode(), st.sampled_from(DEPTHS), st.booleans()),
)

"""kubectl's JSONPath dialect: `-o jsonpath=`, `custom-columns`, `--sort-by`, `wait --for=jsonpath`.

Why a small parser of our own: kubectl's templates are not plain JSONPath (libraries such
as jsonpath-ng parse only one expression); they mix literal text with `{...}` blocks,
`{range EXPR}...{end}` loops and `{"\\n"}` string literals, and print results the way Go's
text template does (strings raw, maps/lists as compact JSON, several results joined by a
space). Missing keys print nothing, as `kubectl get -o jsonpath` (allowMissingKeys) does.

Grammar handled: `.field`, `['key']`/`["k1","k2"]`, `..field` (recursive descent), `[*]`,
`.*`, `[N]`, `[start:end:step]`, `[?(@.path OP literal)]` with OP in == != < <= > >=,
`[?(@.path)]` (existence), `$`/`@` roots, `{range}`/`{end}` and quoted literals.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class JSONPathError(ValueError):
    """A template that does not parse; the message names the offending part."""


# ---- template nodes -----------------------------------------------------------------------------

@dataclass
class Text:
    text: str


@dataclass
class Expr:
    steps: list[Step]


@dataclass
class Range:
    steps: list[Step]
    body: list[Node] = field(default_factory=list)


Node = Text | Expr | Range


@dataclass
class Step:
    """One path step: kind is field|recursive|wildcard|index|slice|union|filter."""

    kind: str
    names: list[str] = field(default_factory=list)
    index: int = 0
    bounds: tuple[int | None, int | None, int | None] = (None, None, None)
    filter: Filter | None = None


@dataclass
class Filter:
    left: list[Step]
    op: str = ""
    right: Any = None
    right_path: list[Step] | None = None


# ---- parsing ------------------------------------------------------------------------------------

def parse(template: str) -> list[Node]:
    """Parse a whole template (text with `{...}` blocks) into nodes."""
    root: list[Node] = []
    stack: list[list[Node]] = [root]
    pos = 0
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            stack[-1].append(Text(template[pos:]))
            break
        if start > pos:
            stack[-1].append(Text(template[pos:start]))
        end = _block_end(template, start)
        inner = template[start + 1:end].strip()
        pos = end + 1
        if inner == "end":
            if len(stack) == 1:
                raise JSONPathError("not in range, nothing to end")
            stack.pop()
        elif inner.startswith("range ") or inner == "range":
            node = Range(parse_path(inner[5:].strip()))
            stack[-1].append(node)
            stack.append(node.body)
        elif inner.startswith(("\"", "'")):
            stack[-1].append(Text(_literal(inner)))
        else:
            stack[-1].append(Expr(parse_path(inner)))
    if len(stack) > 1:
        raise JSONPathError("unclosed range: {range ...} needs a matching {end}")
    return root


def _block_end(template: str, start: int) -> int:
    quote = ""
    i = start + 1
    while i < len(template):
        ch = template[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "}":
            return i
        i += 1
    raise JSONPathError(f"unclosed action in template {template!r}")


def _literal(text: str) -> str:
    if len(text) < 2 or text[-1] != text[0]:
        raise JSONPathError(f"unterminated string literal {text}")
    if text[0] == "'":
        return text[1:-1]
    try:
        return str(json.loads(text))
    except json.JSONDecodeError as exc:
        raise JSONPathError(f"invalid string literal {text}: {exc.msg}") from None


_NAME = re.compile(r"[^.\[\]\s()=!<>]+")


def parse_path(text: str) -> list[Step]:
    """Parse one expression such as `.items[*].metadata.name` or `..name`."""
    steps: list[Step] = []
    pos = 0
    if text.startswith(("$", "@")):
        pos = 1
    while pos < len(text):
        if text.startswith("..", pos):
            pos += 2
            steps.append(Step("recursive"))
            if pos < len(text) and text[pos] == "[":
                continue
            match = _NAME.match(text, pos)
            if not match:
                raise JSONPathError(f"expected a field name after '..' in {text!r}")
            steps.append(Step("field", [match.group()]) if match.group() != "*" else Step("wildcard"))
            pos = match.end()
        elif text[pos] == ".":
            match = _NAME.match(text, pos + 1)
            if not match:
                if pos + 1 == len(text):  # `{.}`: the current object
                    pos += 1
                    continue
                raise JSONPathError(f"expected a field name after '.' at {text[pos:]!r}")
            steps.append(Step("field", [match.group()]) if match.group() != "*" else Step("wildcard"))
            pos = match.end()
        elif text[pos] == "[":
            end = _bracket_end(text, pos)
            steps.append(_bracket(text[pos + 1:end].strip(), text))
            pos = end + 1
        else:
            match = _NAME.match(text, pos)
            if not match or steps:
                raise JSONPathError(f"unrecognized character in action: {text[pos:]!r}")
            steps.append(Step("field", [match.group()]))
            pos = match.end()
    return steps


def _bracket_end(text: str, start: int) -> int:
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise JSONPathError(f"unterminated array in {text!r}")


def _bracket(inner: str, text: str) -> Step:
    if inner == "*":
        return Step("wildcard")
    if inner.startswith("?"):
        body = inner[1:].strip()
        if not (body.startswith("(") and body.endswith(")")):
            raise JSONPathError(f"filter must look like [?(@.field==\"value\")] in {text!r}")
        return Step("filter", filter=_filter(body[1:-1].strip()))
    if inner[:1] in "\"'":
        names = [_literal(part.strip()) for part in _split_union(inner)]
        return Step("union", names)
    if ":" in inner:
        parts = inner.split(":")
        if len(parts) > 3:
            raise JSONPathError(f"invalid slice [{inner}]")
        try:
            nums = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
        except ValueError:
            raise JSONPathError(f"invalid slice [{inner}]") from None
        return Step("slice", bounds=(nums[0], nums[1], nums[2]))
    try:
        return Step("index", index=int(inner))
    except ValueError:
        raise JSONPathError(f"invalid array index [{inner}] in {text!r}") from None


def _split_union(inner: str) -> list[str]:
    parts, quote, current = [], "", ""
    for ch in inner:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return parts


_EXISTS = re.compile(r"^@(\.[\w\-/]+|\[[^\]]*\])*$")
_FILTER = re.compile(r"^(@[^\s=!<>]*)\s*(==|!=|<=|>=|<|>)\s*(.+)$")


def _filter(body: str) -> Filter:
    match = _FILTER.match(body)
    if not match:
        if _EXISTS.match(body):
            return Filter(parse_path(body))
        raise JSONPathError(f"unsupported filter {body!r}: expected @.path OP value")
    left, op, right = match.groups()
    right = right.strip()
    if right.startswith("@"):
        return Filter(parse_path(left), op, right_path=parse_path(right))
    if right[:1] in "\"'":
        value: Any = _literal(right)
    else:
        try:
            value = json.loads(right)
        except json.JSONDecodeError:
            raise JSONPathError(f"invalid filter value {right!r}") from None
    return Filter(parse_path(left), op, value)


# ---- evaluation ---------------------------------------------------------------------------------

def evaluate(steps: list[Step], data: Any) -> list[Any]:
    """All values the path selects from `data`, in document order; missing keys select nothing."""
    values = [data]
    for step in steps:
        if step.kind == "union":  # `['metadata.name','status.capacity']`: each member is a path, member by member
            values = [out for name in step.names for value in values for out in evaluate(parse_path("." + name), value)]
        else:
            values = [out for value in values for out in _apply(step, value)]
    return values


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _descendants(value: Any) -> list[Any]:
    found = [value]
    for child in _children(value):
        found.extend(_descendants(child))
    return found


def _apply(step: Step, value: Any) -> list[Any]:
    kind = step.kind
    if kind == "field":
        if not isinstance(value, dict):
            return []
        return [value[n] for n in step.names if n in value]
    if kind == "recursive":
        return _descendants(value)
    if kind == "wildcard":
        return _children(value)
    if not isinstance(value, list):
        return []
    if kind == "index":
        index = step.index + len(value) if step.index < 0 else step.index
        return [value[index]] if 0 <= index < len(value) else []
    if kind == "slice":
        start, stop, stride = step.bounds
        return value[slice(start, stop, stride)]
    assert step.filter is not None
    return [item for item in value if _matches(step.filter, item)]


_OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _matches(flt: Filter, item: Any) -> bool:
    lefts = evaluate(flt.left, item)
    if not flt.op:
        return bool(lefts)
    rights = evaluate(flt.right_path, item) if flt.right_path is not None else [flt.right]
    for left in lefts:
        for right in rights:
            try:
                if _OPS[flt.op](left, right):
                    return True
            except TypeError:
                continue
    return False


def format_value(value: Any) -> str:
    """How Go's template prints one result: strings raw, containers as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def render(nodes: list[Node], data: Any) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Expr):
            out.append(" ".join(format_value(v) for v in evaluate(node.steps, data)))
        else:
            for item in evaluate(node.steps, data):
                out.append(render(node.body, item))
    return "".join(out)


def execute(template: str, data: Any) -> str:
    """Render a kubectl JSONPath template against `data`."""
    return render(parse(template), data)


def relaxed(expression: str) -> str:
    """`.a.b`, `a.b` or `{.a.b}` -> `{.a.b}`: the spelling custom-columns and --sort-by accept."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if not text.startswith((".", "$", "@", "[")):
        text = "." + text
    return "{" + text + "}"


def values_at(expression: str, data: Any) -> list[Any]:
    """The values one relaxed expression (`.metadata.name`) selects from `data`."""
    nodes = parse(relaxed(expression))
    exprs = [n for n in nodes if isinstance(n, Expr)]
    if len(exprs) != 1 or len(nodes) != 1:
        raise JSONPathError(f"{expression!r} must be a single field path like .metadata.name")
    return evaluate(exprs[0].steps, data)

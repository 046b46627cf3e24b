"""Label and field selectors: parse the text form, evaluate against objects.

Semantics follow Kubernetes:
* `label_matcher(None)` (a nil selector) matches NOTHING; `label_matcher(LabelSelector())`
  (empty) matches EVERYTHING. A nil selector's str() is "" like Kubernetes', so
  check `LabelMatcher.matches_nothing` before turning one into a list query.
* `!=` and `notin` also match objects that lack the key.
* Field selectors compare the string form of a dotted JSON path; a missing field is "".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubelite.api.errors import BadRequest

if TYPE_CHECKING:
    from kubelite.api.meta import LabelSelector

EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "=", "!=", "in", "notin", "exists", "!", "gt", "lt"

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_NAME_RE = re.compile(f"^{_NAME}$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def label_key_error(key: str) -> str | None:
    """Why `key` is not a valid label key (`[prefix/]name`), or None if it is."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        return "prefix part must be a lowercase DNS subdomain (e.g. 'example.com')"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _NAME_RE.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character")
    return None


def label_value_error(value: str) -> str | None:
    """Why `value` is not a valid label value (empty is allowed), or None."""
    if len(value) > 63:
        return "must be no more than 63 characters"
    if value and not _NAME_RE.match(value):
        return ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character")
    return None


@dataclass(frozen=True)
class Requirement:
    """One clause: `key op values`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        op = self.operator
        if op == EXISTS:
            return present
        if op == DOES_NOT_EXIST:
            return not present
        if op in (EQUALS, IN):
            return present and value in self.values
        if op in (NOT_EQUALS, NOT_IN):
            return not present or value not in self.values
        if op in (GT, LT):
            if not present:
                return False
            try:
                have, want = int(value), int(self.values[0])
            except ValueError:
                return False
            return have > want if op == GT else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return f"!{self.key}"
        if op in (EQUALS, NOT_EQUALS):
            return f"{self.key}{op}{self.values[0]}"
        if op == GT:
            return f"{self.key}>{self.values[0]}"
        if op == LT:
            return f"{self.key}<{self.values[0]}"
        return f"{self.key} {op} ({','.join(self.values)})"


@dataclass(frozen=True)
class LabelMatcher:
    """A parsed label selector: all requirements must hold (AND)."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when it selects everything (no requirements)."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


NOTHING = LabelMatcher(matches_nothing=True)
EVERYTHING = LabelMatcher()


def _make(reqs: Iterable[Requirement]) -> LabelMatcher:
    return LabelMatcher(tuple(sorted(reqs, key=lambda r: (r.key, r.operator, r.values))))


def _check_requirement(req: Requirement, text: str) -> None:
    err = label_key_error(req.key)
    if err:
        raise BadRequest(f'invalid label selector "{text}": key "{req.key}": {err}')
    for v in req.values:
        verr = label_value_error(v)
        if verr:
            raise BadRequest(f'invalid label selector "{text}": value "{v}" for key "{req.key}": {verr}')
    if req.operator in (GT, LT) and not re.fullmatch(r"-?\d+", req.values[0]):
        raise BadRequest(f'invalid label selector "{text}": "{req.key}" {req.operator} needs an integer value')


_TOKEN = re.compile(r"\s*(?:(?P<op>==|!=|=|>|<|\(|\)|,|!)|(?P<word>[^\s,=!()<>]+))")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any non-space character
            raise BadRequest(f'invalid label selector "{text}": unexpected character at {pos}')
        out.append(m.group("op") or m.group("word"))
        pos = m.end()
    return out


def parse_label_selector(text: str) -> LabelMatcher:
    """Parse "app=web,tier!=db,env in (a,b),!x,y" into a LabelMatcher ("" = everything).

    Raises api.errors.BadRequest naming the problem.
    """
    toks = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def fail(msg: str) -> BadRequest:
        return BadRequest(f'invalid label selector "{text}": {msg}')

    def peek() -> str | None:
        return toks[i] if i < len(toks) else None

    while i < len(toks):
        tok = toks[i]
        if tok == "!":
            i += 1
            key = peek()
            if key is None or key in "=!<>(),":
                raise fail("expected a key after '!'")
            i += 1
            req = Requirement(key, DOES_NOT_EXIST)
        elif tok in ("=", "==", "!=", "(", ")", ",", "<", ">"):
            raise fail(f"expected a key, found '{tok}'")
        else:
            key = tok
            i += 1
            op = peek()
            if op is None or op == ",":
                req = Requirement(key, EXISTS)
            elif op in ("=", "==", "!=", ">", "<"):
                i += 1
                value = peek()
                if value is None or value == ",":
                    if op in (">", "<"):
                        raise fail(f"expected a number after '{key}{op}'")
                    value = ""
                elif value in "=!<>()":
                    raise fail(f"unexpected '{value}' after '{key}{op}'")
                else:
                    i += 1
                operator = {"=": EQUALS, "==": EQUALS, "!=": NOT_EQUALS, ">": GT, "<": LT}[op]
                req = Requirement(key, operator, (value,))
            elif op.lower() in ("in", "notin"):
                i += 1
                if peek() != "(":
                    raise fail(f"expected '(' after '{key} {op}'")
                i += 1
                values: list[str] = []
                while True:
                    t = peek()
                    if t is None:
                        raise fail("missing ')' to close the value list")
                    if t == ")":
                        i += 1
                        break
                    if t == ",":
                        if not values or toks[i - 1] == ",":
                            values.append("")
                        i += 1
                        continue
                    if t in "=!<>(":
                        raise fail(f"unexpected '{t}' in the value list of '{key}'")
                    values.append(t)
                    i += 1
                if not values:
                    raise fail(f"'{key} {op}' needs at least one value")
                req = Requirement(key, IN if op.lower() == "in" else NOT_IN, tuple(sorted(set(values))))
            else:
                raise fail(f"expected '=', '!=', 'in', 'notin' or ',' after '{key}', found '{op}'")
        _check_requirement(req, text)
        reqs.append(req)
        nxt = peek()
        if nxt is not None:
            if nxt != ",":
                raise fail(f"expected ',' between requirements, found '{nxt}'")
            i += 1
            if peek() is None:
                raise fail("trailing ','")
    return _make(reqs)


_SELECTOR_OPS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_matcher(sel: LabelSelector | None) -> LabelMatcher:
    """Evaluate a LabelSelector (matchLabels AND matchExpressions).

    None matches nothing; an empty LabelSelector matches everything (Kubernetes' rule).
    Raises BadRequest for an unknown operator or a missing/extra value list.
    """
    if sel is None:
        return NOTHING
    reqs = [Requirement(k, EQUALS, (v,)) for k, v in sel.match_labels.items()]
    for expr in sel.match_expressions:
        op = _SELECTOR_OPS.get(expr.operator)
        if op is None:
            raise BadRequest(f'"{expr.operator}" is not a valid label selector operator '
                             "(In, NotIn, Exists, DoesNotExist)")
        if op in (IN, NOT_IN) and not expr.values:
            raise BadRequest(f"values must be non-empty for operator {expr.operator} (key {expr.key!r})")
        if op in (EXISTS, DOES_NOT_EXIST) and expr.values:
            raise BadRequest(f"values must be empty for operator {expr.operator} (key {expr.key!r})")
        reqs.append(Requirement(expr.key, op, tuple(sorted(set(expr.values)))))
    return _make(reqs)


def selector_from_labels(labels: Mapping[str, str]) -> LabelMatcher:
    """Matcher for exactly these key=value pairs (a Service's `spec.selector`).

    An empty map gives EVERYTHING; callers of Service selectors treat {} as "no selector".
    """
    return _make(Requirement(k, EQUALS, (v,)) for k, v in labels.items())


# --- field selectors ----------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    path: str  # dotted JSON path, e.g. "spec.nodeName"
    operator: str  # "=" or "!="
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        have = field_value(obj, self.path)
        return (have == self.value) if self.operator == EQUALS else (have != self.value)

    def __str__(self) -> str:
        return f"{self.path}{self.operator}{_escape(self.value)}"


@dataclass(frozen=True)
class FieldMatcher:
    requirements: tuple[FieldRequirement, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def exact(self, path: str) -> str | None:
        """The value required by `path=value`, if any (lets a server use an index)."""
        return next((r.value for r in self.requirements if r.path == path and r.operator == EQUALS), None)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """String form of the value at a dotted JSON path; "" when absent (or a list/map)."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return ""
        cur = cur[part]
    if cur is None or isinstance(cur, (Mapping, list)):
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace("!", "\\!")


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


def parse_field_selector(text: str) -> FieldMatcher:
    """Parse "spec.nodeName=n1,status.phase!=Failed" (also `==`; `\\,` escapes a comma)."""
    reqs: list[FieldRequirement] = []
    if not text.strip():
        return FieldMatcher()
    for raw in _split_unescaped(text, ","):
        clause = raw.strip()
        if not clause:
            raise BadRequest(f'invalid field selector "{text}": empty requirement')
        m = re.match(r"^(?P<path>[^=!\s]+)\s*(?P<op>==|!=|=)\s*(?P<value>.*)$", clause)
        if m is None:
            raise BadRequest(f'invalid field selector "{text}": "{clause}" is not of the form '
                             "path=value, path==value or path!=value")
        path = m.group("path")
        if not _PATH_RE.match(path):
            raise BadRequest(f'invalid field selector "{text}": "{path}" is not a dotted field path')
        value = re.sub(r"\\(.)", r"\1", m.group("value"))
        reqs.append(FieldRequirement(path, NOT_EQUALS if m.group("op") == "!=" else EQUALS, value))
    return FieldMatcher(tuple(reqs))

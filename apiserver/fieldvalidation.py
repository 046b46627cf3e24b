"""`fieldValidation`: what a write does with fields its kind does not have.

Why a per-request policy in a context variable: Kubernetes lets the client choose --
`Strict` refuses the object (422 naming each field; kubectl's default), `Warn` drops the
fields and says so in `Warning` headers, `Ignore` drops them silently (`kubectl
--validate=false`). The models always refuse unknown fields, so dropping must happen
where a body is decoded for its kind (`objects.decode_for`), which every write path
(create, update, each patch type, apply) passes through; the HTTP adapter sets the
policy for its request and turns what was dropped into warnings. Without a policy
(gRPC, internal writes) unknown fields are refused; over HTTP a request without
`fieldValidation` is Warn, like Kubernetes.
"""

from __future__ import annotations

import contextvars
import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.errors import UNKNOWN_FIELD, BadRequest, Invalid
from kubelite.api.registry import KindInfo

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
MODES = (STRICT, WARN, IGNORE)
_TOKEN = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")
MAX_PASSES = 4  # a dropped field can hide another only inside a model pydantic had not reached


@dataclass(slots=True)
class FieldPolicy:
    mode: str = STRICT
    dropped: list[str] = field(default_factory=list)

    def drop_unknown(self, info: KindInfo, body: dict[str, Any]) -> None:
        """Remove from `body` (in place) every field `info`'s model does not have, unless Strict."""
        if self.mode == STRICT:
            return
        for _ in range(MAX_PASSES):
            try:
                info.model.from_dict(copy.deepcopy(body))
                return
            except Invalid as exc:
                unknown = [c.field for c in exc.causes if c.reason == UNKNOWN_FIELD]
            if not unknown:
                return  # the remaining errors are the write's to report
            for path in unknown:
                if remove_dotted(body, path) and path not in self.dropped:
                    self.dropped.append(path)

    def warnings(self) -> list[str]:
        """`Warning` header values (RFC 7234 code 299) for Warn; nothing for Strict/Ignore."""
        if self.mode != WARN:
            return []
        return ['299 - "unknown field \\"' + path.replace('"', "'") + '\\""' for path in self.dropped]


field_policy: contextvars.ContextVar[FieldPolicy | None] = contextvars.ContextVar(
    "kubelite_field_policy", default=None)


def parse_mode(value: str) -> str:
    """The request's mode; none given is Warn, as in Kubernetes since 1.27 (kubectl always sends
    Strict by default; other clients, e.g. the Python `kubernetes` package, send none)."""
    if value == "":
        return WARN
    if value not in MODES:
        raise BadRequest(f'invalid fieldValidation value "{value}": supported values: "Strict", "Warn", "Ignore"')
    return value


@contextmanager
def validating(policy: FieldPolicy) -> Iterator[FieldPolicy]:
    token = field_policy.set(policy)
    try:
        yield policy
    finally:
        field_policy.reset(token)


def remove_dotted(obj: Any, path: str) -> bool:
    """Delete the field at a cause path (`spec.containers[0].imagee`, `data[key]`); True if found."""
    tokens = [name if name else index for name, index in _TOKEN.findall(path)]
    node = obj
    for i, token in enumerate(tokens):
        last = i == len(tokens) - 1
        if isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return False
            if last:
                del node[int(token)]
                return True
            node = node[int(token)]
        elif isinstance(node, dict):
            if token not in node:
                return False
            if last:
                del node[token]
                return True
            node = node[token]
        else:
            return False
    return False

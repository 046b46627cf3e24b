"""What `kctl wait --for=...` waits for, as a pure predicate over one object (or its absence).

Why pure: the condition grammar (`condition=Ready`, `condition=Ready=false`, `delete`,
`jsonpath={.status.phase}=Running`) and its truth on an object are tested without a
server; the command only feeds it objects from a watch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubectl import jsonpath
from kubectl.errors import CliError
from kubectl.session import Obj


@dataclass(frozen=True)
class Wanted:
    """kind: condition|delete|jsonpath; for jsonpath, `value` None means "the field exists"."""

    kind: str
    name: str = ""
    value: str | None = None

    def met(self, obj: Obj | None) -> bool:
        if self.kind == "delete":
            return obj is None
        if obj is None:
            return False
        if self.kind == "condition":
            want = (self.value if self.value is not None else "True").lower()
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if isinstance(cond, dict) and str(cond.get("type", "")).lower() == self.name.lower():
                    return str(cond.get("status", "")).lower() == want
            return False
        values = jsonpath.values_at(self.name, obj)
        if self.value is None:
            return bool(values)
        return any(jsonpath.format_value(v) == self.value for v in values)


def parse_for(text: str) -> Wanted:
    """`--for` into a Wanted; CliError naming the accepted spellings otherwise."""
    if text == "delete":
        return Wanted("delete")
    if text.startswith("condition="):
        rest = text[len("condition="):]
        name, sep, value = rest.partition("=")
        if not name:
            raise CliError("--for=condition= needs a condition name, e.g. --for=condition=Ready")
        return Wanted("condition", name, value if sep else None)
    if text.startswith("jsonpath="):
        rest = text[len("jsonpath="):].replace("'", "")  # quotes a shell did not remove
        if rest.startswith("{"):
            close = rest.find("}")
            if close < 0:
                raise CliError(f"unterminated jsonpath expression in --for={text}")
            expression, after = rest[:close + 1], rest[close + 1:]
            if after and not after.startswith("="):
                raise CliError(f"--for=jsonpath expects {{.path}}=value, got {text!r}")
            wanted = after[1:] if after else None
        else:
            expression, sep, raw = rest.partition("=")
            wanted = raw if sep else None
        try:
            jsonpath.values_at(expression, {})
        except jsonpath.JSONPathError as exc:
            raise CliError(f"invalid --for jsonpath {expression!r}: {exc}") from None
        return Wanted("jsonpath", expression, wanted)
    raise CliError(f"unrecognized condition: {text!r} (use --for=delete, --for=condition=NAME[=VALUE] "
                   "or --for=jsonpath='{.path}'=VALUE)")


Predicate = Callable[[Obj | None], bool]

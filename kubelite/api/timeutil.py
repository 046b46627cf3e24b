"""Timestamps as Kubernetes writes them: RFC 3339 in UTC, whole seconds ("...Z").

Why one module: every component reads and writes these strings (conditions,
creation and deletion times, Job start/completion, taints' timeAdded, kctl
ages). Three private parsers used to disagree about a lower-case "z", missing
zones and what to do with garbage; now there is one strict parser for values we
wrote ourselves and one lenient one for values that may be absent or foreign.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Stands in for a missing creationTimestamp, so sorting by age stays total."""

_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
_MICROS = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what pure planners take as `now`)."""
    return datetime.now(UTC)


def format_time(when: datetime) -> str:
    """RFC 3339 with whole seconds in UTC ("2026-11-24T02:50:44Z"), like metav1.Time.

    A naive datetime is taken to be UTC already.
    """
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime(_SECONDS)


def format_unix(seconds: float) -> str:
    """`format_time` of a UNIX time (runtime timestamps, the kubelet's wall clock)."""
    return datetime.fromtimestamp(seconds, UTC).strftime(_SECONDS)


def now() -> str:
    """The current time as Kubernetes writes timestamps: RFC 3339, seconds, UTC ("...Z")."""
    return utcnow().strftime(_SECONDS)


def now_micro() -> str:
    """RFC 3339 with microseconds (Lease acquireTime/renewTime, Event eventTime, like metav1.MicroTime)."""
    return utcnow().strftime(_MICROS)


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (fractions and offsets allowed) into an aware datetime.

    Strict: raises ValueError for anything else. A timestamp without a zone is
    taken as UTC, which is what Kubernetes components write.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_time_or_none(value: object) -> datetime | None:
    """`parse_time` for fields that may be unset or hold anything (JSON from a server, user annotations).

    None, "", a non-string or an unparsable string all give None, so callers
    decide what an unknown time means instead of crashing on it.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|[hms]))+")


def parse_duration(text: str) -> float:
    """Go-style duration ("1h30m", "10m", "600s", "24h") -> seconds; "0" is zero; ValueError otherwise."""
    text = text.strip()
    if text == "0":
        return 0.0
    if not _DURATION.fullmatch(text):
        raise ValueError(f"invalid duration {text!r}: expected a duration like 10m, 1h30m or 24h")
    return sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|[hms])", text))

"""Durations as kubectl spells them: `30s`, `2m`, `1h30m`, `500ms`, or a bare number of seconds.

Why one parser: every timeout flag (`--timeout`, `--request-timeout`, `wait`, `rollout status`,
`delete`, `drain`) and `create token --duration` must accept the same spellings and reject
the same mistakes with a message naming the flag's value.
"""

from __future__ import annotations

import argparse
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_seconds(text: str) -> float:
    """Seconds in `text`; ValueError with a readable message when it is not a duration."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(value):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(value) or not value:
            raise ValueError(f"invalid duration {text!r} (expected e.g. 30s, 2m, 1h30m)") from None
    if seconds < 0:
        raise ValueError("durations cannot be negative")
    return seconds


def duration(text: str) -> float:
    """argparse `type=` for timeout flags."""
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None

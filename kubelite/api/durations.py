"""Durations as kubectl and the daemons' flags spell them: `30s`, `2m`, `1h30m`, `500ms`, or a bare number of seconds.

Why one parser: every timeout flag (`--timeout`, `--request-timeout`, `wait`, `rollout status`,
`delete`, `drain`), `create token --duration` and the daemons' period flags (the proxy's
`--sync-period`, the apiserver's `--event-ttl`) must accept the same spellings and reject
the same mistakes with a message naming the flag's value.
"""

from __future__ import annotations

import argparse

from kubelite.api import timeutil


def parse_seconds(text: str) -> float:
    """Seconds in `text` (a Go-style duration, or a bare number of seconds as kubectl also takes);
    ValueError with a readable message when it is not one."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = timeutil.parse_duration(value)
    if seconds < 0:
        raise ValueError("durations cannot be negative")
    return seconds


def duration(text: str) -> float:
    """argparse `type=` for timeout flags."""
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None

"""A minimal Prometheus text-format registry (counters and gauges).

Why hand-written: daemons need a handful of counters on `/metrics`; the
exposition format is a few lines of text and pulling in a client library for it
would be the bigger cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """A metric family read at scrape time with labelled series (e.g. per-container usage)."""

    name: str
    kind: str  # "counter" or "gauge"
    help_text: str
    series: list[tuple[dict[str, str], float]]


def _labels(labels: dict[str, str] | tuple[tuple[str, str], ...]) -> str:
    items = sorted(labels.items()) if isinstance(labels, dict) else labels
    return ",".join(f'{k}="{_escape(v)}"' for k, v in items)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters and gauges keyed by metric name and a sorted label tuple."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}
        self._help: dict[str, str] = {}
        self._collectors: list[Callable[[], list[Family]]] = []

    def inc(self, name: str, amount: float = 1.0, help_text: str = "", **labels: str) -> None:
        series = self._counters.setdefault(name, {})
        key = tuple(sorted(labels.items()))
        series[key] = series.get(key, 0.0) + amount
        if help_text:
            self._help[name] = help_text

    def gauge(self, name: str, read: Callable[[], float], help_text: str = "") -> None:
        """Register a gauge whose value is read at scrape time."""
        self._gauges[name] = read
        if help_text:
            self._help[name] = help_text

    def collector(self, read: Callable[[], list[Family]]) -> None:
        """Register families of labelled series read at scrape time."""
        self._collectors.append(read)

    def value(self, name: str, **labels: str) -> float:
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        for name, series in sorted(self._counters.items()):
            if name in self._help:
                lines.append(f"# HELP {name} {self._help[name]}")
            lines.append(f"# TYPE {name} counter")
            for labels, val in sorted(series.items()):
                label_text = _labels(labels)
                lines.append(f"{name}{{{label_text}}} {val}" if label_text else f"{name} {val}")
        for name, read in sorted(self._gauges.items()):
            if name in self._help:
                lines.append(f"# HELP {name} {self._help[name]}")
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {read()}")
        for collect in self._collectors:
            for fam in collect():
                lines += [f"# HELP {fam.name} {fam.help_text}", f"# TYPE {fam.name} {fam.kind}"]
                for fam_labels, val in fam.series:
                    text = _labels(fam_labels)
                    lines.append(f"{fam.name}{{{text}}} {val}" if text else f"{fam.name} {val}")
        return "\n".join(lines) + "\n"

"""Pure helpers of the newer kctl commands: log line shaping, durations, label specs, YAML output."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubectl import keyvalues
from kubectl.errors import CliError
from kubectl.logfilter import LineFilter
from kubectl.output import to_yaml
from kubelite.api.durations import parse_seconds


def test_since_drops_older_lines_and_strips_the_timestamps() -> None:
    shaper = LineFilter(datetime(2026, 1, 1, 12, 0, tzinfo=UTC), keep_timestamps=False, prefix="[pod/a/c] ")
    out = shaper.feed(b"2026-01-01T11:59:59.123456789Z old\n2026-01-01T12:00:01.5Z ne")
    out += shaper.feed(b"w\n2026-01-01T12:00:02Z last")
    out += shaper.flush()
    assert out == b"[pod/a/c] new\n[pod/a/c] last"


def test_timestamps_are_kept_when_asked() -> None:
    shaper = LineFilter(None, keep_timestamps=True)
    assert shaper.needs_timestamps
    assert shaper.feed(b"2026-01-01T12:00:00Z x\n") == b"2026-01-01T12:00:00Z x\n"


@pytest.mark.parametrize(("text", "seconds"), [("120s", 120), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5),
                                               ("5", 5), ("1.5m", 90)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["2 minutes", "m", "", "-5s", "5x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_seconds(text)


def test_label_words_split_objects_from_changes() -> None:
    objects, wanted = keyvalues.split_words(["pods", "web", "a=1", "b-"])
    assert objects == ["pods", "web"] and wanted.set == {"a": "1"} and wanted.remove == ["b"]
    with pytest.raises(CliError, match="both modify and remove"):
        keyvalues.split_words(["pods", "web", "a=1", "a-"])


def test_yaml_has_no_anchors_for_shared_values() -> None:
    labels = {"app": "web"}
    text = to_yaml({"metadata": {"labels": labels}, "spec": {"selector": {"matchLabels": labels}}})
    assert "&" not in text and "*" not in text and text.count("app: web") == 2

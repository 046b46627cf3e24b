"""Cron schedules as Kubernetes CronJobs accept them: 5 fields or an @macro.

Why in `api`: the same parser validates `spec.schedule` (apiserver and kctl,
so a bad schedule is rejected with a field error at apply time) and drives the
CronJob controller, so the two can never disagree about what a schedule means.

Syntax (the standard cron one, as Kubernetes' parser): `minute hour
day-of-month month day-of-week`; each field is `*`, `?`, a value, a range
`a-b`, a step `*/n`, `a-b/n` or `a/n`, or a comma list of those; months
`JAN`-`DEC` and weekdays `SUN`-`SAT` by name, Sunday is 0 or 7. When both
day fields are restricted a day matches either of them (cron's rule);
otherwise both must match. Macros: @yearly/@annually, @monthly, @weekly,
@daily/@midnight, @hourly. Times are evaluated in UTC or the given zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {name: i + 1 for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# (name, min, max, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
SEARCH_YEARS = 5
"""A schedule with no time in this many years (e.g. "0 0 30 2 *") has no next time."""


class CronError(ValueError):
    """A schedule that does not parse; the message says which field and why."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_star: bool
    weekdays_star: bool
    text: str

    def _day_matches(self, d: datetime) -> bool:
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def matches(self, t: datetime) -> bool:
        """Does wall-clock time `t` (its minute) fire?"""
        return (t.minute in self.minutes and t.hour in self.hours and t.month in self.months
                and self._day_matches(t))

    def next_after(self, after: datetime, zone: tzinfo | None = None) -> datetime | None:
        """The first firing time strictly after `after` (aware, UTC result); None if none within years.

        Walks months, days, hours and minutes in wall-clock time of `zone`
        (UTC by default), skipping whole units that cannot match, so even a
        yearly schedule costs a few hundred steps.
        """
        tz = zone or UTC
        local = after.astimezone(tz).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        limit = local + timedelta(days=366 * SEARCH_YEARS)
        while local < limit:
            if local.month not in self.months:
                year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
                local = datetime(year, month, 1)
                continue
            if not self._day_matches(local):
                local = datetime(local.year, local.month, local.day) + timedelta(days=1)
                continue
            if local.hour not in self.hours:
                local = local.replace(minute=0) + timedelta(hours=1)
                continue
            if local.minute not in self.minutes:
                local += timedelta(minutes=1)
                continue
            result = local.replace(tzinfo=tz).astimezone(UTC)
            if result > after:
                return result
            local += timedelta(minutes=1)  # DST fold: this wall time already passed
        return None


def _value(text: str, lo: int, hi: int, names: dict[str, int], field: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise CronError(f"invalid {field} value {text!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise CronError(f"{field} value {value} out of range {lo}-{hi}")
    return value


def _parse_field(text: str, field: str, lo: int, hi: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    if not text:
        raise CronError(f"empty {field} field")
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"invalid step {step_text!r} in {field} field")
            step = int(step_text)
        if base in ("*", "?"):
            start, end = lo, hi
            if step == 1:
                star = True
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, lo, hi, names, field), _value(b, lo, hi, names, field)
            if start > end:
                raise CronError(f"{field} range {base!r} runs backwards")
        else:
            start = _value(base, lo, hi, names, field)
            end = hi if slash else start
        values.update(range(start, end + 1, step))
    return frozenset(values), star


def parse_schedule(text: str) -> Schedule:
    """Parse a schedule; CronError says what is wrong."""
    spec = text.strip()
    if spec.startswith("@"):
        if spec not in MACROS:
            raise CronError(f"unrecognized descriptor {spec!r} (known: {', '.join(MACROS)})")
        spec = MACROS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields (minute hour day-of-month month day-of-week), found {len(fields)}")
    parsed = [_parse_field(f, name, lo, hi, names) for f, (name, lo, hi, names) in zip(fields, _FIELDS, strict=True)]
    weekdays = frozenset(0 if d == 7 else d for d in parsed[4][0])
    return Schedule(
        minutes=parsed[0][0], hours=parsed[1][0], days=parsed[2][0], months=parsed[3][0], weekdays=weekdays,
        days_star=parsed[2][1], weekdays_star=parsed[4][1], text=text,
    )


def schedule_error(text: str) -> str | None:
    """None when `text` parses, else the reason (for validation)."""
    try:
        parse_schedule(text)
    except CronError as exc:
        return str(exc)
    return None

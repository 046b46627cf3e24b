"""Kubernetes resource quantities: "500m", "128Mi", "1.5G", "1e3".

Models keep quantities as strings (what the user wrote); the scheduler and the
kubelet compare them through these functions, in exact decimal arithmetic.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
}
_RE = re.compile(r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<suffix>[A-Za-z]*(?:[+-]?\d+)?)$")
_EXP = re.compile(r"^[eE](?P<exp>[+-]?\d+)$")


def parse_quantity(s: str | int | float) -> Decimal:
    """Exact value of a quantity; raises ValueError with the reason for bad input."""
    if isinstance(s, bool):
        raise ValueError(f"invalid quantity {s!r}: expected a number or a string like 500m or 128Mi")
    if isinstance(s, (int, float)):
        return Decimal(str(s))
    text = s.strip()
    m = _RE.match(text)
    if m is None:
        raise ValueError(
            f'invalid quantity "{s}": expected a number with an optional suffix '
            "(n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent like 1e3)"
        )
    try:
        number = Decimal(m.group("num"))
    except InvalidOperation:  # pragma: no cover - the regex only lets decimals through
        raise ValueError(f'invalid quantity "{s}": bad number') from None
    suffix = m.group("suffix")
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    exp = _EXP.match(suffix)
    if exp is not None:
        power = int(exp.group("exp"))
        if abs(power) > 100:
            raise ValueError(f'invalid quantity "{s}": exponent out of range')
        return number * (Decimal(10) ** power)
    raise ValueError(
        f'invalid quantity "{s}": unknown suffix "{suffix}" '
        "(use n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent like 1e3)"
    )


def _ceil(d: Decimal) -> int:
    return int(d.to_integral_value(rounding=ROUND_CEILING))


def cpu_millis(s: str | int | float) -> int:
    """CPU in millicores ("500m" -> 500, "2" -> 2000); fractions of a milli round up."""
    return _ceil(parse_quantity(s) * 1000)


def memory_bytes(s: str | int | float) -> int:
    """Bytes ("128Mi" -> 134217728, "1G" -> 10**9); fractions round up."""
    return _ceil(parse_quantity(s))


def value(s: str | int | float) -> int:
    """Integer value of a count-like quantity (pods, ephemeral-storage), rounded up."""
    return _ceil(parse_quantity(s))


def format_cpu_millis(millis: int) -> str:
    """500 -> "500m", 2000 -> "2" (the shortest exact form)."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"


def format_memory(n_bytes: int) -> str:
    """134217728 -> "128Mi"; the largest binary suffix that is exact, else plain bytes."""
    if n_bytes == 0:
        return "0"
    for suffix, size in reversed(_BINARY.items()):
        if n_bytes % size == 0:
            return f"{n_bytes // size}{suffix}"
    return str(n_bytes)


def format_memory_human(n_bytes: int) -> str:
    """Rounded for tables ("1.5Gi", "300Mi"); not meant to be parsed back exactly."""
    for suffix, size in reversed(_BINARY.items()):
        if abs(n_bytes) >= size:
            amount = n_bytes / size
            return f"{amount:.1f}".rstrip("0").rstrip(".") + suffix
    return str(n_bytes)


def is_valid(s: str) -> bool:
    """True when `s` parses as a quantity."""
    try:
        parse_quantity(s)
    except ValueError:
        return False
    return True

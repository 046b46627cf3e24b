"""LimitRange rules: the object's own defaults, its validation, and what it does to a pod.

Why pure and here: the apiserver's LimitRanger admission applies these to
every pod it creates, and a unit test can check each rule without a server.
Messages follow Kubernetes' LimitRanger wording, with the container named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_CEILING, Decimal

from kubelite.api.container import Container
from kubelite.api.errors import StatusCause
from kubelite.api.namespacepolicy import LimitRange, LimitRangeItem
from kubelite.api.pods import Pod
from kubelite.api.quantity import format_cpu_millis, format_memory, parse_quantity

LIMIT_TYPES = ("Container", "Pod")
RESOURCES = ("cpu", "memory")


def default_limit_range(lr: LimitRange) -> None:
    """Kubernetes' defaulting of a Container item: `max` is the default limit when none is given,
    and the default limit is the default request when none is given."""
    for item in lr.spec.limits:
        if item.type != "Container":
            continue
        for name, text in item.max.items():
            item.default.setdefault(name, text)
        for name, text in item.default.items():
            item.default_request.setdefault(name, text)


def _amount(text: str) -> Decimal | None:
    try:
        return parse_quantity(text)
    except ValueError:
        return None


def validate_limit_range(lr: LimitRange, out: list[StatusCause]) -> None:
    for i, item in enumerate(lr.spec.limits):
        path = f"spec.limits[{i}]"
        if item.type not in LIMIT_TYPES:
            out.append(StatusCause.not_supported(f"{path}.type", item.type, LIMIT_TYPES))
        sections = {"max": item.max, "min": item.min, "default": item.default,
                    "defaultRequest": item.default_request, "maxLimitRequestRatio": item.max_limit_request_ratio}
        parsed: dict[str, dict[str, Decimal]] = {}
        for section, values in sections.items():
            parsed[section] = {}
            for name, text in values.items():
                field = f"{path}.{section}[{name}]"
                if name not in RESOURCES:
                    out.append(StatusCause.not_supported(f"{path}.{section}", name, RESOURCES))
                    continue
                amount = _amount(text)
                if amount is None or amount < 0:
                    out.append(StatusCause.invalid(field, text, "must be a non-negative quantity (500m, 128Mi)"))
                    continue
                parsed[section][name] = amount
        if item.type == "Pod":
            for section in ("default", "defaultRequest"):
                if sections[section]:
                    out.append(StatusCause.forbidden(f"{path}.{section}", "may not be specified when `type` is 'Pod'"))
        _check_order(path, item, parsed, out)


def _check_order(path: str, item: LimitRangeItem, parsed: dict[str, dict[str, Decimal]],
                 out: list[StatusCause]) -> None:
    """min <= defaultRequest <= default <= max, and a ratio of at least 1."""
    text = {"max": item.max, "min": item.min, "default": item.default, "defaultRequest": item.default_request}
    pairs = (("min", "max"), ("min", "defaultRequest"), ("defaultRequest", "default"), ("default", "max"),
             ("min", "default"), ("defaultRequest", "max"))
    for low, high in pairs:
        for name, low_amount in parsed[low].items():
            high_amount = parsed[high].get(name)
            if high_amount is not None and low_amount > high_amount:
                out.append(StatusCause.invalid(
                    f"{path}.{low}[{name}]", text[low][name],
                    f"{low} value {text[low][name]} is greater than {high} value {text[high][name]}"))
    for name, ratio in parsed["maxLimitRequestRatio"].items():
        if ratio < 1:
            out.append(StatusCause.invalid(f"{path}.maxLimitRequestRatio[{name}]", item.max_limit_request_ratio[name],
                                           "ratio must be greater than or equal to 1"))


def apply_defaults(pod: Pod, ranges: Iterable[LimitRange]) -> bool:
    """Give every container the Container items' default limits and requests it lacks; True if any."""
    changed = False
    for lr in ranges:
        for item in lr.spec.limits:
            if item.type != "Container":
                continue
            for c in pod.spec.all_containers():
                for name, text in item.default.items():
                    if name not in c.resources.limits:
                        c.resources.limits[name] = text
                        changed = True
                for name, text in item.default_request.items():
                    if name not in c.resources.requests:
                        c.resources.requests[name] = text
                        changed = True
    return changed


def _get(values: dict[str, str], name: str) -> Decimal | None:
    return _amount(values[name]) if name in values else None


def _check(scope: str, who: str, item: LimitRangeItem, requests: Callable[[str], Decimal | None],
           limits: Callable[[str], Decimal | None], shown: Callable[[str, str], str], out: list[str]) -> None:
    """Kubernetes' min/max/ratio checks of one container (or a whole pod) against one item."""
    for name, text in item.min.items():
        request, floor = requests(name), _amount(text)
        if floor is None:
            continue
        if request is None:
            out.append(f"minimum {name} usage per {scope} is {text}.  No request is specified{who}")
        elif request < floor:
            out.append(f"minimum {name} usage per {scope} is {text}, but request is {shown('requests', name)}{who}")
    for name, text in item.max.items():
        limit, ceiling = limits(name), _amount(text)
        if ceiling is None:
            continue
        if limit is None:
            out.append(f"maximum {name} usage per {scope} is {text}.  No limit is specified{who}")
        elif limit > ceiling:
            out.append(f"maximum {name} usage per {scope} is {text}, but limit is {shown('limits', name)}{who}")
    for name, text in item.max_limit_request_ratio.items():
        limit, request, most = limits(name), requests(name), _amount(text)
        if most is None:
            continue
        if limit is None:
            out.append(f"{name} max limit to request ratio per {scope} is {text}, but no limit is specified{who}")
        elif request is None or request == 0:
            out.append(f"{name} max limit to request ratio per {scope} is {text}, but no request is specified "
                       f"or request is 0{who}")
        elif limit / request > most:
            out.append(f"{name} max limit to request ratio per {scope} is {text}, but provided ratio is "
                       f"{float(limit / request):f}{who}")


def violations(pod: Pod, ranges: Iterable[LimitRange]) -> list[str]:
    """Every min/max/ratio violation of `pod` (after defaults), one message each."""
    out: list[str] = []
    containers = pod.spec.all_containers()
    for lr in ranges:
        for item in lr.spec.limits:
            if item.type == "Container":
                for c in containers:
                    _check_container(c, item, out)
            elif item.type == "Pod":
                _check(
                    "Pod", "", item,
                    _sum(c.resources.requests for c in containers), _sum(c.resources.limits for c in containers),
                    lambda section, n: _format_sum(containers, section, n), out)
    return out


def _check_container(c: Container, item: LimitRangeItem, out: list[str]) -> None:
    _check("Container", f' (container "{c.name}")', item, lambda n: _get(c.resources.requests, n),
           lambda n: _get(c.resources.limits, n), lambda section, n: getattr(c.resources, section)[n], out)


def _sum(maps: Iterable[dict[str, str]]) -> Callable[[str], Decimal | None]:
    values = list(maps)

    def total(name: str) -> Decimal | None:
        amounts = [_amount(m[name]) for m in values if name in m]
        present = [a for a in amounts if a is not None]
        return sum(present, Decimal(0)) if present else None

    return total


def _format_sum(containers: list[Container], section: str, name: str) -> str:
    amount = _sum(getattr(c.resources, section) for c in containers)(name)
    if amount is None:
        return "0"
    if name == "cpu":
        return format_cpu_millis(int((amount * 1000).to_integral_value(rounding=ROUND_CEILING)))
    return format_memory(int(amount.to_integral_value(rounding=ROUND_CEILING)))

"""Field checks shared by the validation of several kinds (selectors, counts, int-or-percent).

Why a module of its own: `validation` (workloads, core kinds) and the newer
kinds' validators (storage, policy) both need them, and the newer validators
are imported by `validation`, so the shared checks must live below both.
"""

from __future__ import annotations

from kubelite.api.base import IntOrString
from kubelite.api.errors import BadRequest, StatusCause
from kubelite.api.meta import LabelSelector
from kubelite.api.names import is_percent
from kubelite.api.podvalidation import validate_labels_map
from kubelite.api.selectors import label_key_error, label_matcher

Causes = list[StatusCause]


def gt_eq_zero(value: int | None, path: str, out: Causes) -> None:
    if value is not None and value < 0:
        out.append(StatusCause.invalid(path, value, "must be greater than or equal to 0"))


def validate_selector(sel: LabelSelector | None, path: str, out: Causes, required: bool = True) -> None:
    if sel is None:
        if required:
            out.append(StatusCause.required(path))
        return
    validate_labels_map(sel.match_labels, f"{path}.matchLabels", out)
    for i, expr in enumerate(sel.match_expressions):
        kerr = label_key_error(expr.key)
        if kerr:
            out.append(StatusCause.invalid(f"{path}.matchExpressions[{i}].key", expr.key, kerr))
    try:
        label_matcher(sel)
    except BadRequest as exc:
        out.append(StatusCause.invalid(f"{path}.matchExpressions", [e.to_dict() for e in sel.match_expressions],
                                       str(exc)))


def int_or_percent(value: IntOrString | None, path: str, out: Causes) -> None:
    if value is None:
        return
    if isinstance(value, int):
        gt_eq_zero(value, path, out)
    elif not is_percent(value):
        out.append(StatusCause.invalid(path, value, "a valid percent string must be a numeric string followed by "
                                                    "an ending '%' (e.g. '1%',  or '93%')"))
    elif int(value[:-1]) > 100:
        out.append(StatusCause.invalid(path, value, "must not be greater than 100%"))

"""The base of every model: Kubernetes JSON names, clean dumps, errors with JSON paths.

Why a custom base: Kubernetes JSON names are not plain camelCase (`podIP`,
`containerID`, `hostPID`), `kctl get -o yaml` must not show empty noise, and a
typo in a manifest must come back as `spec.template.spec.containers[0].imagee:
Unsupported field`, not a pydantic traceback.
"""

from __future__ import annotations

import difflib
import gc
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from pydantic._internal._namespace_utils import MappingNamespace

from kubelite.api.errors import (
    INVALID,
    REQUIRED,
    TYPE_INVALID,
    UNKNOWN_FIELD,
    Invalid,
    StatusCause,
    describe_causes,
    format_value,
)

# Words Kubernetes spells in capitals inside JSON names (but never as the first word).
_SPECIAL_WORDS = {
    "ip": "IP", "ips": "IPs", "cidr": "CIDR", "cidrs": "CIDRs", "id": "ID", "pid": "PID", "ipc": "IPC",
    "uuid": "UUID", "url": "URL", "uid": "UID", "tls": "TLS", "fqdn": "FQDN",
}


def k8s_alias(name: str) -> str:
    """snake_case attribute -> Kubernetes JSON name (`pod_ip` -> `podIP`, `api_version` -> `apiVersion`)."""
    first, *rest = name.split("_")
    return first + "".join(_SPECIAL_WORDS.get(w, w[:1].upper() + w[1:]) for w in rest)


def _coerce_quantity(v: Any) -> Any:
    """YAML `cpu: 1` or `memory: 1.5` arrive as numbers; quantities are strings in the model."""
    if isinstance(v, bool):
        return v  # let str validation reject it with a clear message
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return v


Quantity = Annotated[str, BeforeValidator(_coerce_quantity)]
"""A resource quantity kept as its string form ("500m", "128Mi"); parse with api.quantity."""

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

Int32 = Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]
"""An int32 field of the Kubernetes API (replicas, ports, counts): out-of-range values are
refused at decoding, naming the field, so `replicas: 1e12` never reaches a controller."""

Int64 = Annotated[int, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
"""An int64 field (generations, grace periods, user ids): bounded like Kubernetes' Go int64."""

IntOrString = Int32 | str
"""Kubernetes intstr: a port number or name, a count or a percentage."""


class KubeModel(BaseModel):
    """Base of all models: camelCase JSON aliases, unknown fields rejected.

    `defer_build`: a model's validator is built when it first validates, not at import. kctl
    imports every model (the kind registry) but mostly prints raw JSON; building ~240
    validators up front was ~0.25 s of each `kctl` run (bench/README.md). Daemons pay the
    same build once, at their first object of each kind.
    """

    model_config = ConfigDict(populate_by_name=True, extra="forbid", alias_generator=k8s_alias, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        """`field: null` means "unset" in Kubernetes JSON (`creationTimestamp: null`, an empty
        YAML `args:`); treat it so, instead of failing on collections that are never None."""
        # `None in values()` scans in C: this runs once per nested object of every decode.
        if isinstance(data, dict) and None in data.values():
            return {k: v for k, v in data.items() if v is not None}
        return data

    shared_validator: ClassVar[bool] = False
    """Set on a part many kinds embed (ObjectMeta, PodSpec): its validator is built on its own
    before any model that contains it, and theirs refer to it instead of compiling a copy.

    Why: a validator inlines the nested models that have none yet; built in the order a
    controller-manager meets them, Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, CronJob
    and Pod each compiled their own PodSpec (9.0 MB for these and five small kinds; 5.8 MB with
    ObjectMeta and PodSpec built first, `python -c` with smaps_rollup). Built alone, Pod costs
    the same either way."""

    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: MappingNamespace | None = None,
    ) -> bool | None:
        """pydantic's, after building the shared parts (`shared_validator`) this model contains.
        A deferred build (a kind's first validation) comes through here too."""
        if not cls.__pydantic_complete__:
            for part in _shared_parts(cls):
                if not part.__pydantic_complete__:
                    part.model_rebuild(raise_errors=raise_errors)
        return super().model_rebuild(force=force, raise_errors=raise_errors,
                                     _parent_namespace_depth=_parent_namespace_depth + 1,
                                     _types_namespace=_types_namespace)

    @classmethod
    def __pydantic_on_complete__(cls) -> None:
        """Collect the young generation once a model's validator is built (first use of a kind).

        Why: building a validator leaves ~1 MB of cyclic garbage per top-level kind (pydantic
        asks `inspect.signature` about every `default_factory=list`; for a builtin that parses
        its text signature into a throwaway class holding a copy of `sys.modules`). Builds
        happen on the first decode of a kind, often inside `gc_paused` blocks that end by
        moving what is alive to the oldest generation, or in servers whose young threshold is
        raised (`kubelite/daemon/gctuning.py`): that garbage then waited for a full collection,
        6-7 MB of an idle apiserver's heap (tracemalloc, bench/README.md "Idle footprint").
        A young collection here finds it while it is young; it costs no measurable time
        (the ~240 builds of all kinds took 340-350 ms of CPU with it, 375 without).
        """
        gc.collect(0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict by alias; omits None, empty collections and empty always-present structs.

        Optional sub-objects that are set are kept even when empty (`emptyDir: {}`
        and `running: {}` mean something); zero numbers and False are kept too.
        """
        return _dump(self)

    @classmethod
    def from_dict(cls, d: Any) -> Self:
        """Parse Kubernetes JSON; raises api.errors.Invalid with one cause per bad field."""
        try:
            return cls.model_validate(d)
        except ValidationError as exc:
            causes = causes_from_validation_error(cls, exc)
            kind_field = cls.model_fields.get("kind")
            kind = kind_field.default if kind_field is not None else None
            if not isinstance(kind, str) or not kind:
                raise Invalid(describe_causes(f"{cls.__name__} is invalid", causes), causes) from None
            meta = d.get("metadata") if isinstance(d, dict) else None
            name = meta.get("name") if isinstance(meta, dict) else None
            raise Invalid.for_object(kind, name if isinstance(name, str) else None, causes) from None

    def copy_deep(self) -> Self:
        """An independent deep copy (controllers mutate copies, never cached objects)."""
        return self.model_copy(deep=True)


@dataclass(frozen=True)
class _Slot:
    """How one JSON key of a model is pruned: drop-if-empty, and the model inside (if any)."""

    prunable: bool
    child: type[KubeModel] | None
    container: str  # "one", "list", "dict" or "" (scalar / loosely typed)


def _slot_for(annotation: Any, prunable: bool) -> _Slot:
    tp = _unwrap(annotation)
    origin = get_origin(tp)
    if origin is list:
        inner, container = _unwrap(get_args(tp)[0]), "list"
    elif origin is dict:
        inner, container = _unwrap(get_args(tp)[1]), "dict"
    else:
        inner, container = tp, "one"
    if isinstance(inner, type) and issubclass(inner, KubeModel):
        return _Slot(prunable, inner, container)
    return _Slot(prunable, None, "")


@cache
def _slots(cls: type[KubeModel]) -> dict[str, _Slot]:
    """Per JSON key: always-present fields (default_factory) are dropped when they dump empty;
    optional sub-objects that are set are kept even if empty (`emptyDir: {}`)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {
        (f.alias or name): _slot_for(hints.get(name, f.annotation), f.default_factory is not None)
        for name, f in cls.model_fields.items()
    }


def _shared_parts(cls: type[KubeModel]) -> list[type[KubeModel]]:
    """The `shared_validator` models nested in `cls` (not looking inside them: each builds its
    own parts first), innermost first."""
    found: list[type[KubeModel]] = []
    seen: set[type[KubeModel]] = {cls}

    def walk(model: type[KubeModel]) -> None:
        for slot in _slots(model).values():
            child = slot.child
            if child is None or child in seen:
                continue
            seen.add(child)
            if child.shared_validator:
                found.append(child)
            else:
                walk(child)

    walk(cls)
    return found


def _prune(cls: type[KubeModel], d: dict[str, Any]) -> dict[str, Any]:
    slots = _slots(cls)
    for key in list(d):
        slot = slots.get(key)
        if slot is None:
            continue
        value = d[key]
        child = slot.child
        if child is not None:
            if slot.container == "one":
                _prune(child, value)
            elif slot.container == "list":
                for item in value:
                    _prune(child, item)
            else:
                for item in value.values():
                    _prune(child, item)
        if slot.prunable and not value and isinstance(value, (dict, list)):
            del d[key]
    return d


def _dump(model: KubeModel) -> dict[str, Any]:
    # pydantic's (compiled) dump does the heavy lifting; the prune pass only visits present keys.
    return _prune(type(model), model.model_dump(by_alias=True, exclude_none=True))


# --- turning pydantic errors into Kubernetes field causes -------------------------


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and `| None` so the walker sees the real shape."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


@cache
def _fields_by_json_name(cls: type[BaseModel]) -> dict[str, tuple[str, Any]]:
    """JSON name (and attribute name) -> (JSON name, annotation) for path rendering."""
    out: dict[str, tuple[str, Any]] = {}
    hints = typing.get_type_hints(cls, include_extras=True)
    for name, field in cls.model_fields.items():
        alias = field.alias or name
        entry = (alias, hints.get(name, field.annotation))
        out[alias] = entry
        out.setdefault(name, entry)
    return out


def _describe(tp: Any) -> str:
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if tp is int:
        return "integer"
    if tp is str:
        return "string"
    if tp is bool:
        return "boolean"
    if tp is float:
        return "number"
    if origin in (Union, types.UnionType):
        names = [_describe(a) for a in get_args(tp) if a is not type(None)]
        return " or ".join(names)
    if origin is dict:
        key, val = get_args(tp)
        if _unwrap(val) is str:
            return "a map of string to string"
        return "a map"
    if origin is list:
        return "a list"
    if _is_model(tp):
        return "a map"
    return "a valid value"


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {format_value(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def _walk(cls: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str, Any, Any]:
    """Render a pydantic `loc` as a JSON path; also return the expected type and parent type."""
    path = ""
    tp: Any = cls
    parent: Any = None
    for part in loc:
        cur = _unwrap(tp)
        origin = get_origin(cur)
        if _is_model(cur):
            entry = _fields_by_json_name(cur).get(str(part))
            parent = cur
            if entry is None:
                path += f".{part}" if path else str(part)
                tp = None
                continue
            path += f".{entry[0]}" if path else entry[0]
            tp = entry[1]
        elif origin is list and isinstance(part, int):
            path += f"[{part}]"
            parent, tp = cur, get_args(cur)[0]
        elif origin is dict:
            path += f"[{part}]"
            parent, tp = cur, get_args(cur)[1]
        elif origin in (Union, types.UnionType):
            break  # the rest of the loc names union members ("int", "str"), not fields
        else:
            path += f".{part}" if path else str(part)
            tp = None
    return path, tp, parent


# pydantic's bound errors -> (its ctx key, Kubernetes' wording for the limit).
_BOUNDS = {
    "less_than_equal": ("le", "must be less than or equal to"),
    "greater_than_equal": ("ge", "must be greater than or equal to"),
}


def _cause_for(cls: type[BaseModel], err: Any) -> StatusCause:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    field, tp, parent = _walk(cls, loc)
    if kind == "extra_forbidden":
        message = "Unsupported field"
        if _is_model(parent) and loc:
            names = sorted({v[0] for v in _fields_by_json_name(parent).values()})
            close = difflib.get_close_matches(str(loc[-1]), names, n=1)
            if close:
                message += f' (did you mean "{close[0]}"?)'
        return StatusCause(field, message, UNKNOWN_FIELD)
    if kind == "missing":
        return StatusCause(field, "Required value", REQUIRED)
    if kind.endswith("_type") or kind.endswith("_parsing") or kind in ("model_attributes_type", "int_from_float"):
        expected = _describe(tp) if tp is not None else "a valid value"
        return StatusCause(field, f"expected {expected}, got {_kind_of(err.get('input'))}", TYPE_INVALID)
    bound = _BOUNDS.get(kind)
    if bound is not None:
        limit, value = (err.get("ctx") or {}).get(bound[0]), err.get("input")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # YAML's 1.0e12 is shown as the count it means
        return StatusCause.invalid(field, value, f"{bound[1]} {limit}")
    if kind in ("value_error", "assertion_error"):
        ctx = err.get("ctx") or {}
        return StatusCause(field, str(ctx.get("error", err.get("msg", ""))), INVALID)
    return StatusCause(field, f"Invalid value: {format_value(err.get('input'))}: {err.get('msg', '')}")


def causes_from_validation_error(cls: type[BaseModel], exc: ValidationError) -> list[StatusCause]:
    """One StatusCause per bad field; union members failing together become one cause."""
    causes: list[StatusCause] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        cause = _cause_for(cls, err)
        if cause.field in seen and cause.reason == TYPE_INVALID:
            continue
        seen.add(cause.field)
        causes.append(cause)
    return causes

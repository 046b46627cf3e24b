"""API errors shaped like Kubernetes `Status` objects.

Every layer (apiserver, client, kctl) speaks these exceptions, and they travel
over gRPC as a Kubernetes `Status` JSON (see `to_status` / `from_status`), so an
error raised deep in the apiserver reaches the user with the same reason, code
and field causes that `kubectl` would show.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

# Cause reasons (Kubernetes `metav1.CauseType` values).
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TYPE_INVALID = "FieldValueTypeInvalid"
UNKNOWN_FIELD = "FieldValueUnknown"


def format_value(value: Any) -> str:
    """Render a bad value the way kubectl messages do: strings quoted, numbers bare."""
    if isinstance(value, str):
        return json.dumps(value)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class StatusCause:
    """One reason an object was rejected: a JSON field path and a readable message."""

    field: str
    message: str
    reason: str = INVALID

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StatusCause:
        return cls(str(d.get("field", "")), str(d.get("message", "")), str(d.get("reason", INVALID)))

    # Builders with the exact wording of Kubernetes' field errors, so messages
    # read the same everywhere they are produced.
    @classmethod
    def required(cls, field: str, detail: str = "") -> StatusCause:
        return cls(field, "Required value" + (f": {detail}" if detail else ""), REQUIRED)

    @classmethod
    def invalid(cls, field: str, value: Any, detail: str) -> StatusCause:
        return cls(field, f"Invalid value: {format_value(value)}: {detail}", INVALID)

    @classmethod
    def not_supported(cls, field: str, value: Any, supported: Iterable[str]) -> StatusCause:
        values = ", ".join(json.dumps(s) for s in supported)
        return cls(field, f"Unsupported value: {format_value(value)}: supported values: {values}", NOT_SUPPORTED)

    @classmethod
    def duplicate(cls, field: str, value: Any) -> StatusCause:
        return cls(field, f"Duplicate value: {format_value(value)}", DUPLICATE)

    @classmethod
    def forbidden(cls, field: str, detail: str) -> StatusCause:
        return cls(field, f"Forbidden: {detail}", FORBIDDEN)

    @classmethod
    def too_long(cls, field: str, max_length: int) -> StatusCause:
        return cls(field, f"Too long: must have at most {max_length} bytes", TOO_LONG)


class ApiError(Exception):
    """Base of every API failure; carries what a Kubernetes `Status` carries."""

    REASON: ClassVar[str] = "Unknown"
    CODE: ClassVar[int] = 500

    def __init__(
        self,
        reason: str,
        message: str,
        code: int,
        causes: Sequence[StatusCause] = (),
        *,
        name: str | None = None,
        kind: str | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.code = code
        self.causes: list[StatusCause] = list(causes)
        self.name = name
        self.kind = kind
        self.retry_after_seconds = retry_after_seconds

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def to_status(self) -> dict[str, Any]:
        """The Kubernetes `Status` object for this error (what travels on the wire)."""
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status

    @staticmethod
    def from_status(d: Mapping[str, Any]) -> ApiError:
        """Rebuild the right exception subclass from a `Status` dict (by reason, then code)."""
        reason = str(d.get("reason") or "")
        message = str(d.get("message") or reason or "unknown error")
        code_raw = d.get("code")
        code = code_raw if isinstance(code_raw, int) else 500
        raw_details = d.get("details")
        details: Mapping[str, Any] = raw_details if isinstance(raw_details, Mapping) else {}
        causes = [StatusCause.from_dict(c) for c in details.get("causes") or () if isinstance(c, Mapping)]
        name = details.get("name")
        kind = details.get("kind")
        retry = details.get("retryAfterSeconds")
        cls = _BY_REASON.get(reason) or (None if reason else _BY_CODE.get(code))
        if cls is None:
            return ApiError(reason or "Unknown", message, code, causes, name=name, kind=kind,
                            retry_after_seconds=retry if isinstance(retry, int) else None)
        err = cls(message, causes, name=name, kind=kind)
        err.retry_after_seconds = retry if isinstance(retry, int) else None
        return err


_BY_REASON: dict[str, type[_Fixed]] = {}  # filled by `_Fixed.__init_subclass__`


class _Fixed(ApiError):
    """An error whose reason and code are fixed by its class: `class X(_Fixed, reason=..., code=...)`."""

    def __init_subclass__(cls, *, reason: str = "", code: int = 0, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if reason:  # a subclass of a subclass may keep its parent's
            cls.REASON, cls.CODE = reason, code
            _BY_REASON[reason] = cls

    def __init__(
        self,
        message: str = "",
        causes: Sequence[StatusCause] = (),
        *,
        name: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(self.REASON, message or self.default_message(causes), self.CODE, causes, name=name,
                         kind=kind)

    @classmethod
    def default_message(cls, causes: Sequence[StatusCause]) -> str:
        """The message when none is given."""
        return cls.REASON


def _qualified(what: str) -> tuple[str, str]:
    """("deployments.apps", "deployments") for a kind/resource name; unknown names pass through."""
    from kubelite.api.registry import find  # late: registry imports the models, which import this module

    info = find(what)
    if info is None:
        return what, what
    qualified = f"{info.resource}.{info.group}" if info.group else info.resource
    return qualified, info.resource


class NotFound(_Fixed, reason="NotFound", code=404):
    """No such object."""

    @classmethod
    def for_object(cls, what: str, name: str) -> NotFound:
        """`deployments.apps "web" not found` for a kind, resource or alias `what`."""
        qualified, resource = _qualified(what)
        return cls(f'{qualified} "{name}" not found', name=name, kind=resource)


class AlreadyExists(_Fixed, reason="AlreadyExists", code=409):
    """An object of that name exists already."""

    @classmethod
    def for_object(cls, what: str, name: str) -> AlreadyExists:
        qualified, resource = _qualified(what)
        return cls(f'{qualified} "{name}" already exists', name=name, kind=resource)


class Conflict(_Fixed, reason="Conflict", code=409):
    """The object changed since it was read, or the operation clashes with its state."""

    @classmethod
    def for_object(cls, what: str, name: str, detail: str = "") -> Conflict:
        """The optimistic-concurrency failure clients retry on (stale resourceVersion)."""
        qualified, resource = _qualified(what)
        detail = detail or "the object has been modified; please apply your changes to the latest version and try again"
        return cls(f'Operation cannot be fulfilled on {qualified} "{name}": {detail}', name=name, kind=resource)


class Invalid(_Fixed, reason="Invalid", code=422):
    """Rejected object; `causes` name each bad field by JSON path."""

    @classmethod
    def default_message(cls, causes: Sequence[StatusCause]) -> str:
        return describe_causes("object is invalid", causes)

    @classmethod
    def for_object(cls, kind: str, name: str | None, causes: Sequence[StatusCause]) -> Invalid:
        """`Deployment.apps "web" is invalid: spec.replicas: Invalid value: ...` like kubectl."""
        from kubelite.api.registry import find

        info = find(kind)
        label = kind if info is None else (f"{info.kind}.{info.group}" if info.group else info.kind)
        head = f'{label} "{name}" is invalid' if name else f"{label} is invalid"
        return cls(describe_causes(head, causes), causes, name=name, kind=info.kind if info else kind)


def describe_causes(head: str, causes: Sequence[StatusCause]) -> str:
    """One cause on the same line, several as a bulleted list (kubectl's layout)."""
    if not causes:
        return head
    if len(causes) == 1:
        return f"{head}: {causes[0]}"
    return head + ":\n" + "\n".join(f"* {c}" for c in causes)


class Expired(_Fixed, reason="Expired", code=410):
    """A watch/list resourceVersion older than what the server still has: relist."""


class BadRequest(_Fixed, reason="BadRequest", code=400):
    """The request itself is malformed."""


class RequestEntityTooLarge(_Fixed, reason="RequestEntityTooLarge", code=413):
    """The request body is over the apiserver's limit."""


class Forbidden(_Fixed, reason="Forbidden", code=403):
    """The user may not do this (authorization or admission said no)."""


class Unauthorized(_Fixed, reason="Unauthorized", code=401):
    """The request carried credentials that identify nobody (or none where anonymous access is off)."""


class InternalError(_Fixed, reason="InternalError", code=500):
    """The server failed; the request may be retried."""


class ServiceUnavailable(_Fixed, reason="ServiceUnavailable", code=503):
    """The server cannot serve now (starting, overloaded, storage down)."""


class TooManyRequests(_Fixed, reason="TooManyRequests", code=429):
    """Try again later: an eviction a PodDisruptionBudget refuses now (kubectl drain retries it)."""


class Timeout(_Fixed, reason="Timeout", code=504):
    """The server gave up waiting (e.g. for storage); the outcome may be unknown."""


_BY_REASON["Gone"] = Expired
_BY_CODE: dict[int, type[_Fixed]] = {
    404: NotFound, 409: Conflict, 422: Invalid, 410: Expired, 400: BadRequest, 401: Unauthorized, 403: Forbidden,
    500: InternalError, 503: ServiceUnavailable, 504: Timeout,
}

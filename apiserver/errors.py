"""Short builders for the errors the apiserver returns.

Why a module: the messages users see ("pods \"web\" not found", the Conflict
wording that tells clients to re-read and retry) come from `api.errors`
builders so they read exactly like Kubernetes; these helpers keep call sites in
the apiserver one line long and typed.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelite.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    InternalError,
    Invalid,
    NotFound,
    ServiceUnavailable,
    StatusCause,
    Timeout,
)

CONFLICT_MESSAGE = "the object has been modified; please apply your changes to the latest version and try again"


def not_found(resource: str, name: str) -> NotFound:
    return NotFound.for_object(resource, name)


def already_exists(resource: str, name: str) -> AlreadyExists:
    return AlreadyExists.for_object(resource, name)


def conflict(resource: str, name: str, detail: str = "") -> Conflict:
    return Conflict.for_object(resource, name, detail)


def invalid(kind: str, name: str | None, causes: Sequence[StatusCause]) -> Invalid:
    return Invalid.for_object(kind, name, causes)


def bad_request(message: str) -> BadRequest:
    return BadRequest(message)


def forbidden(message: str) -> Forbidden:
    return Forbidden(message)


def expired(message: str) -> Expired:
    return Expired(message)


def unavailable(message: str) -> ServiceUnavailable:
    return ServiceUnavailable(message)


def timeout(message: str) -> Timeout:
    return Timeout(message)


def internal(message: str) -> InternalError:
    return InternalError(message)


def not_found_message(message: str) -> NotFound:
    return NotFound(message)


def unknown_resource(resource: str) -> NotFound:
    return NotFound(f'the server doesn\'t have a resource type "{resource}"', kind=resource)

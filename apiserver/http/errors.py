"""Errors over HTTP: every failure is a Kubernetes `Status` JSON with the matching HTTP code.

Why one place: kubectl and client-go read `reason`, `code` and `details` to decide what
to print and whether to retry (409 Conflict -> refetch, 410 Expired -> relist), so the
handlers only raise `kubelite.api.errors` exceptions and this module renders them.
The group of the resource goes into `details.group` the way Kubernetes reports it.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from kubelite.api.errors import ApiError, BadRequest, NotFound, RequestEntityTooLarge  # noqa: F401 (re-exported)

JSON = "application/json"


class UnsupportedMediaType(ApiError):
    """415: a body in a format this server does not read (protobuf, an unknown patch type)."""

    def __init__(self, message: str) -> None:
        super().__init__("UnsupportedMediaType", message, 415)


class MethodNotAllowed(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__("MethodNotAllowed", message, 405)


class NotAcceptable(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__("NotAcceptable", message, 406)


def not_found_path() -> NotFound:
    """What Kubernetes answers for a path that names no resource: 404 with this exact message."""
    return NotFound("the server could not find the requested resource")


def bad_query(name: str, value: str, detail: str) -> BadRequest:
    return BadRequest(f'invalid value for query parameter {name}="{value}": {detail}')


def status_body(err: ApiError, group: str = "") -> dict[str, Any]:
    status = err.to_status()
    if group and "details" in status:
        status["details"]["group"] = group
    return status


def status_response(err: ApiError, group: str = "") -> web.Response:
    """The response for `err`: Status JSON, its code, and Retry-After when the error carries one."""
    headers = {}
    if err.retry_after_seconds is not None:
        headers["Retry-After"] = str(err.retry_after_seconds)
    return web.Response(status=err.code, body=json.dumps(status_body(err, group)).encode(),
                        content_type=JSON, headers=headers)


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    """`Status` with `status: Success` (what a deletecollection answers, among others)."""
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        status["details"] = details
    return status

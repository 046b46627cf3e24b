"""Errors cut to fit in gRPC metadata.

Why: an error's Status travels in trailing metadata and its message in the
`grpc-message` header, and gRPC refuses a response whose headers exceed its
metadata limit (8 KiB by default): the client then sees RESOURCE_EXHAUSTED, a
503, instead of the 422 it earned. Validation messages quote the offending
value, so a 300 KB `apiVersion` made exactly that happen. Here long messages,
fields and cause lists are clipped (saying how much was cut) until the Status
fits; the reason and code are never touched.
"""

from __future__ import annotations

import json
from typing import Any

from kubelite.api.errors import ApiError

STATUS_BUDGET = 4096
"""Most bytes of Status JSON plus message sent as gRPC metadata (half of gRPC's default limit)."""
MAX_CAUSES = 16


def _clip(text: Any, limit: int) -> Any:
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def _size(status: dict[str, Any]) -> int:
    message = str(status.get("message", ""))
    return len(json.dumps(status).encode()) + len(message.encode("utf-8", "surrogatepass")) * 3


def fit_for_metadata(err: ApiError) -> ApiError:
    """`err` itself when its Status fits in STATUS_BUDGET bytes, else a clipped copy."""
    status = err.to_status()
    if _size(status) <= STATUS_BUDGET:
        return err
    for limit in (512, 128, 32):
        status["message"] = _clip(err.message, limit * 2)
        details = err.to_status().get("details", {})
        causes = details.get("causes", [])
        if causes:
            kept = [{k: _clip(v, limit) for k, v in c.items()} for c in causes[:MAX_CAUSES]]
            if len(causes) > MAX_CAUSES:
                kept.append({"message": f"and {len(causes) - MAX_CAUSES} more errors"})
            details["causes"] = kept
        if details:
            details = {k: _clip(v, limit) for k, v in details.items()}
            status["details"] = details
        if _size(status) <= STATUS_BUDGET:
            break
    else:
        status.get("details", {}).pop("causes", None)
    return ApiError.from_status(status)

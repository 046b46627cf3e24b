"""PATCH bodies over HTTP: the media type picks the patch function (kubelite.api.patch).

Why the functions themselves live in kubelite.api.patch: kctl applies the same patches
client-side, and must not import the HTTP server to do so.
"""

from __future__ import annotations

from typing import Any

from apiserver.http.errors import UnsupportedMediaType
from kubelite.api.errors import BadRequest
from kubelite.api.patch import (
    MERGE_KEYS,
    MERGED_SCALAR_LISTS,
    PatchFn,
    json_patch,
    merge_patch,
    strategic_merge,
)

__all__ = ["MERGE_KEYS", "MERGED_SCALAR_LISTS", "PatchFn", "json_patch", "merge_patch", "strategic_merge",
           "patch_function"]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# ---- dispatch ----------------------------------------------------------------------------------

def patch_function(content_type: str, body: Any) -> PatchFn:
    """The function that applies a PATCH body of `content_type` to the current object."""
    media = content_type.split(";")[0].strip().lower()
    if media == MERGE_PATCH:
        if not isinstance(body, dict):
            raise BadRequest("merge patch must be a JSON object")
        return lambda current: merge_patch(current, body)
    if media == JSON_PATCH:
        return lambda current: json_patch(current, body)
    if media == STRATEGIC_PATCH:
        if not isinstance(body, dict):
            raise BadRequest("strategic merge patch must be a JSON object")
        return lambda current: strategic_merge(current, body)
    if media == APPLY_PATCH:
        raise UnsupportedMediaType("server-side apply (application/apply-patch+yaml) is not supported yet; "
                                   "use client-side kubectl apply")
    raise UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_PATCH}")

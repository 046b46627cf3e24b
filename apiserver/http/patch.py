"""PATCH bodies over HTTP: the media type picks the patch function (kubelite.api.patch).

Why the functions themselves live in kubelite.api.patch: kctl applies the same patches
client-side, and must not import the HTTP server to do so.
"""

from __future__ import annotations

import json
from typing import Any

from apiserver.http.errors import UnsupportedMediaType
from kubelite.api import limits
from kubelite.api.errors import BadRequest
from kubelite.api.patch import PatchFn, json_patch, merge_patch, patch_for, strategic_merge

__all__ = ["PatchFn", "json_patch", "merge_patch", "strategic_merge", "patch_document", "patch_function", "patch_media"]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPE_OF = {MERGE_PATCH: "merge", JSON_PATCH: "json", STRATEGIC_PATCH: "strategic"}  # kubectl's --type

# ---- dispatch ----------------------------------------------------------------------------------

def patch_document(body: bytes, content_type: str) -> Any:
    """The parsed body of a PATCH request, or 400/415 naming what is wrong with it.

    Checked for size and nesting before any patch code recurses into it."""
    patch_media(content_type)
    if not body:
        raise BadRequest("the patch body is empty")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the patch is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(f"the patch is not valid: {limits.TOO_DEEP}") from None
    bad_shape = limits.shape_error(data)
    if bad_shape:
        raise BadRequest(f"the patch is not valid: {bad_shape}")
    return data


def patch_media(content_type: str) -> str:
    """The patch type of a PATCH request; 415 for anything else, before the body is read
    (a protobuf or XML body is refused for its type, not reported as malformed JSON)."""
    media = content_type.split(";")[0].strip().lower()
    if media not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH, APPLY_PATCH):
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}, {STRATEGIC_PATCH}")
    return media


def patch_function(content_type: str, body: Any, *, strategic: bool = True) -> PatchFn:
    """The function that applies a PATCH body of `content_type` to the current object.

    `strategic` False: the kind has no patch merge keys (custom resources), so a strategic
    merge patch is refused with 415, as Kubernetes does."""
    media = patch_media(content_type)
    if media == STRATEGIC_PATCH and not strategic:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}")
    if media in PATCH_TYPE_OF:
        return patch_for(PATCH_TYPE_OF[media], body)
    raise UnsupportedMediaType("server-side apply (application/apply-patch+yaml) is served for objects "
                               "and their status, not for this subresource")

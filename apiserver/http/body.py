"""Reading a request body once, within the size limit, for whichever step needs it first.

Why shared: the body is normally read by the handler after authorization, but
the Node authorizer must see the name of the object a node creates (its own
Node or Lease, a TokenRequest's bound pod) before the request is allowed. The
access hook reads it then (only after authentication, never for an
anonymous upload), and the handler gets the same bytes.
"""

from __future__ import annotations

from aiohttp import web

from kubelite.api.errors import RequestEntityTooLarge
from kubelite.api.limits import MAX_REQUEST_BODY_BYTES

BODY = web.RequestKey("kubelite_body", bytes)
LIMIT = web.RequestKey("kubelite_body_limit", int)
DEFAULT_LIMIT = MAX_REQUEST_BODY_BYTES


async def read_body(request: web.Request) -> bytes:
    """The request body (b"" for GET/HEAD), read once; RequestEntityTooLarge past the limit."""
    if BODY in request:
        return request[BODY]
    data = b""
    if request.method not in ("GET", "HEAD"):
        limit = request.get(LIMIT, DEFAULT_LIMIT)
        length = request.content_length
        if length is not None and length > limit:
            raise RequestEntityTooLarge(f"Request entity too large: limit is {limit}")
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge(f"Request entity too large: limit is {limit}")
            chunks.append(chunk)
        data = b"".join(chunks)
    request[BODY] = data
    return data

"""Watch over HTTP: one chunked response, one JSON event per line, until timeout or disconnect.

Why this shape: it is what client-go, kubectl `get -w` and the Python client's
`watch.Watch` read -- `{"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": ...}`
per line. A resourceVersion older than the history is answered as Kubernetes' watch
cache does: status 200 and a single ERROR event carrying the 410 `Expired` Status,
which is what makes clients relist. Errors found before streaming (bad selector,
cache not ready) are plain Status responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping

from aiohttp import web

from apiserver.http.errors import JSON, bad_query, status_body
from apiserver.http.tables import table
from apiserver.options import WatchEvent, WatchOptions
from apiserver.service import ResourceService
from kubelite.api.errors import ApiError, Expired
from kubelite.api.registry import KindInfo

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 1800  # Kubernetes' --min-request-timeout


def watch_options(query: Mapping[str, str]) -> tuple[WatchOptions, float]:
    timeout_text = query.get("timeoutSeconds", "")
    timeout = float(DEFAULT_TIMEOUT_SECONDS)
    if timeout_text:
        try:
            timeout = float(int(timeout_text))
        except ValueError:
            raise bad_query("timeoutSeconds", timeout_text, "must be an integer") from None
        if timeout < 0:
            raise bad_query("timeoutSeconds", timeout_text, "must not be negative")
    allow = query.get("allowWatchBookmarks", "") in ("1", "true", "True")
    options = WatchOptions(label_selector=query.get("labelSelector", ""),
                           field_selector=query.get("fieldSelector", ""),
                           resource_version=query.get("resourceVersion", ""), allow_bookmarks=allow)
    return options, timeout


_JSON_LINE = "json-line"


def _json_line(event: WatchEvent) -> bytes:
    return b'{"type":"' + event.type.encode() + b'","object":' + event.object + b"}\n"


def encode_event(event: WatchEvent, kind: KindInfo, as_table: bool, include_object: str) -> bytes | None:
    """One event line; None for an event a Table watch does not show (bookmarks)."""
    if not as_table:
        return event.encoded(_JSON_LINE, _json_line)  # made once per event, shared by its watchers
    if event.type == "BOOKMARK":
        return None
    obj = json.loads(event.object)
    rv = str(obj.get("metadata", {}).get("resourceVersion", ""))
    body = table(kind.kind, [obj], include_object=include_object, resource_version=rv, custom=kind.custom)
    return json.dumps({"type": event.type, "object": body}).encode() + b"\n"


def _error_line(err: ApiError) -> bytes:
    return json.dumps({"type": "ERROR", "object": status_body(err)}).encode() + b"\n"


async def serve_watch(request: web.Request, service: ResourceService, kind: KindInfo, namespace: str,
                      *, as_table: bool, include_object: str) -> web.StreamResponse:
    options, timeout = watch_options(request.query)
    response = web.StreamResponse(status=200)
    response.content_type = JSON
    response.enable_chunked_encoding()
    try:
        events = await service.open_watch(kind.resource, namespace, options)
    except Expired as err:
        await response.prepare(request)
        await response.write(_error_line(err))
        return response
    async with contextlib.aclosing(events):
        await response.prepare(request)
        try:
            async with asyncio.timeout(timeout or None):
                async for event in events:
                    line = encode_event(event, kind, as_table, include_object)
                    if line is not None:
                        await response.write(line)
        except TimeoutError:
            pass
        except ApiError as err:
            await response.write(_error_line(err))
        except (ConnectionResetError, ConnectionError):
            log.debug("watch client went away", extra={"resource": kind.resource})
    return response

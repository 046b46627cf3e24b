"""`GET /api/v1/namespaces/NS/pods/NAME/log`: a container's log over HTTP, streamed from its kubelet.

Why a thin layer over `apiserver.logs.KubeletLogs`: the pod -> node -> kubelet lookup, the
container checks and the relay are the same for `kctl logs` (gRPC) and `kubectl logs`
(HTTP); this module only reads `PodLogOptions` from the query the Kubernetes way and writes
the bytes as they come (chunked, so `follow` shows lines as they are logged). The answer
starts only once the kubelet accepted the request, so a refusal is still a `Status`; a
follow ends when the container ends, or when the client goes away (aiohttp cancels the
handler, which cancels the kubelet call).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from apiserver.http.errors import MethodNotAllowed, bad_query
from apiserver.http.routing import RequestInfo
from apiserver.logs import KubeletLogs
from kubelite.api.errors import BadRequest
from kubelite.api.timeutil import format_time, parse_time, utcnow
from kubelite.pb.kubelite import api_pb2

BOOLS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,
         "0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False}
KNOWN = frozenset({"container", "follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime",
                   "limitBytes", "pretty", "insecureSkipTLSVerifyBackend", "stream"})


def query_bool(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it (absent or empty: false)."""
    text = query.get(name, "")
    if not text:
        return False
    if text not in BOOLS:
        raise bad_query(name, text, "must be a boolean (true or false)")
    return BOOLS[text]


def query_int(query: Mapping[str, str], name: str, minimum: int) -> int | None:
    text = query.get(name, "")
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad_query(name, text, "must be an integer") from None
    if value < minimum:
        relation = "greater than 0" if minimum == 1 else f"greater than or equal to {minimum}"
        raise BadRequest(f"PodLogOptions is invalid: {name}: Invalid value: {value}: must be {relation}")
    return value


@dataclass(frozen=True, slots=True)
class LogOptions:
    """Kubernetes' `PodLogOptions`, read from a query string."""

    container: str = ""
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_time: str = ""
    limit_bytes: int = 0

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> LogOptions:
        unknown = sorted(set(query) - KNOWN)
        if unknown:
            raise BadRequest(f"PodLogOptions: unknown query parameter {unknown[0]!r}; known: {', '.join(sorted(KNOWN))}")
        since_seconds = query_int(query, "sinceSeconds", 1)
        since_text = query.get("sinceTime", "")
        if since_seconds is not None and since_text:
            raise BadRequest("PodLogOptions is invalid: at most one of `sinceTime` or `sinceSeconds` may be specified")
        since = ""
        if since_seconds is not None:
            since = format_time(utcnow() - timedelta(seconds=since_seconds))
        elif since_text:
            try:
                since = format_time(parse_time(since_text))
            except ValueError:
                raise bad_query("sinceTime", since_text, "must be an RFC 3339 time") from None
        query_bool(query, "insecureSkipTLSVerifyBackend")  # kubelets are always verified; only validated
        if query.get("stream", "All") != "All":
            raise bad_query("stream", query["stream"], "kubelite serves only stream=All (stdout and stderr together)")
        return cls(container=query.get("container", ""), follow=query_bool(query, "follow"),
                   previous=query_bool(query, "previous"), timestamps=query_bool(query, "timestamps"),
                   tail_lines=query_int(query, "tailLines", 0), since_time=since,
                   limit_bytes=query_int(query, "limitBytes", 1) or 0)

    def request(self, namespace: str, name: str) -> api_pb2.LogsRequest:
        request = api_pb2.LogsRequest(namespace=namespace, name=name, container=self.container, follow=self.follow,
                                      previous=self.previous, timestamps=self.timestamps, since_time=self.since_time,
                                      limit_bytes=self.limit_bytes)
        if self.tail_lines is not None:
            request.tail_lines = self.tail_lines
        return request


async def serve_log(request: web.Request, info: RequestInfo, logs: KubeletLogs) -> web.StreamResponse:
    """Answer a pods/log GET: refusals as a Status (raised), else the log bytes as they come."""
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed(f"the server does not allow this method on pods/log: {request.method}")
    options = LogOptions.parse(request.query)
    chunks = await logs.open(options.request(info.namespace, info.name))
    async with contextlib.aclosing(chunks):
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk.data)
        await response.write_eof()
    return response

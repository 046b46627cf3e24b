"""The Kubernetes HTTP API of the apiserver, served with aiohttp beside gRPC.

Why one catch-all route: Kubernetes answers any path it does not serve with a
404 `Status`, and every request must first be turned into request attributes
(`routing.request_info`) -- the single place an authorizer will look -- before
it is dispatched: non-resource paths (version, health, discovery, OpenAPI) by
table, resource paths to `handlers.ResourceHandlers`. Nothing a client sends
can crash the server: errors become `Status` responses, anything unexpected a
logged 500.

TLS is a constructor argument (`ssl.SSLContext`); without one the server is
plain HTTP, which is only meant for loopback (tests, local tools).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from apiserver import serverversion
from apiserver.access import AccessControl, AccessOptions
from apiserver.http import accessapi, discovery, hpav1, metricsroutes, openapi
from apiserver.http.body import LIMIT, read_body
from apiserver.http.errors import not_found_path, status_response
from apiserver.http.handlers import ResourceHandlers, json_response
from apiserver.http.podstreams import is_pod_stream, serve_pod_stream
from apiserver.http.routing import RequestInfo, request_info, resolve_kind
from apiserver.logs import KubeletLogs
from apiserver.metricsapi import ResourceMetrics
from apiserver.service import ResourceService
from apiserver.strategy import StatusStrategy
from kubelite.api.errors import ApiError, InternalError
from kubelite.api.limits import MAX_REQUEST_BODY_BYTES
from kubelite.api.registry import KindInfo

log = logging.getLogger(__name__)

REQUEST_INFO = web.RequestKey("kubelite_request_info", RequestInfo)
Authorizer = Callable[[web.Request, RequestInfo], Awaitable[None]]
"""Raises `api.errors.Forbidden` (or Unauthorized) to refuse a request; None allows everything."""


async def _allow_all(request: web.Request, info: RequestInfo) -> None:
    return None


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str = "") -> ssl.SSLContext:
    """TLS for the HTTP API; with a client CA, client certificates are verified when presented
    (authentication decides what an absent one means)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def request_attributes(request: web.Request) -> RequestInfo:
    """The request's attributes (see `routing.request_info`), computed once per request."""
    if REQUEST_INFO in request:
        return request[REQUEST_INFO]
    info = request_info(request.method, request.path, request.query)
    request[REQUEST_INFO] = info
    return info


class HttpApi:
    """Serves the Kubernetes REST API over `service`; `not_ready` answers /readyz (None = ready)."""

    def __init__(self, service: ResourceService, *, not_ready: Callable[[], str | None] = lambda: None,
                 authorizer: Authorizer | None = None, max_body_bytes: int = MAX_REQUEST_BODY_BYTES,
                 access: AccessControl | None = None, kubelet: KubeletLogs | None = None) -> None:
        self.service = service
        self.access = access or AccessControl.build(AccessOptions(), service.caches)  # answers the self reviews
        self.kubelet = kubelet  # relays pods/log, exec, portforward (None: those paths 404)
        self.metrics = ResourceMetrics(service, kubelet) if kubelet is not None else None
        self.not_ready = not_ready
        self.authorizer = authorizer or _allow_all
        self.max_body_bytes = max_body_bytes
        self.handlers = ResourceHandlers(service)
        self.port = 0
        self.host = ""
        self.scheme = "http"
        self._runner: web.AppRunner | None = None
        self._requests: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def application(self) -> web.Application:
        # The body limit is enforced by `body.read_body` (to answer with a Status), not by aiohttp.
        app = web.Application(client_max_size=self.max_body_bytes + 1)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        runner = web.AppRunner(self.application(), handle_signals=False, access_log=None,
                               handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True)
        await site.start()
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        self.host = host
        self.scheme = "https" if ssl_context is not None else "http"
        log.info("apiserver HTTP API listening", extra={"url": self.url})

    async def stop(self) -> None:
        """End open requests (watches never end on their own), then close the listener."""
        for task in list(self._requests):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- dispatch ----------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._requests.add(task)
        group = ""
        try:
            request[LIMIT] = self.max_body_bytes
            info = request_attributes(request)
            group = info.api_group
            await self.authorizer(request, info)
            if not info.is_resource_request:
                return await self._nonresource(request, info)
            if accessapi.serves(info):
                return await accessapi.handle(request, info, await read_body(request), self.service, self.access)
            if metricsroutes.serves(info):
                return await metricsroutes.handle(request, info, self.metrics)
            if is_pod_stream(info):
                return await serve_pod_stream(request, info, self.kubelet)
            if hpav1.serves(info):
                return await hpav1.handle(self.handlers, request, info, await read_body(request))
            kind = resolve_kind(info)
            body = await read_body(request)
            return await self.handlers.handle(request, info, kind, body)
        except ApiError as err:
            return status_response(err, group)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("HTTP request failed", extra={"method": request.method, "path": request.path})
            return status_response(InternalError(f"an error on the server has prevented the request from "
                                                 f"succeeding: {type(exc).__name__}: {exc}"))
        finally:
            if task is not None:
                self._requests.discard(task)

    async def _nonresource(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise not_found_path()
        path = request.path.rstrip("/") or "/"
        has_status = self._has_status
        if path == "/version":
            return json_response(serverversion.VERSION)
        if path in ("/healthz", "/livez", "/readyz"):
            reason = self.not_ready() if path == "/readyz" else None
            if reason is not None:
                return web.Response(status=500, text=f"[-]apiserver failed: {reason}\nreadyz check failed\n")
            return web.Response(text="ok")
        accept = request.headers.get("Accept", "")
        if path in ("/api", "/apis") and discovery.wants_aggregated(accept):
            body = discovery.aggregated(path == "/api", has_status)
            return web.Response(body=json.dumps(body).encode(), headers={"Content-Type": discovery.AGGREGATED_TYPE})
        parts = path.strip("/").split("/")
        if path == "/api":
            return json_response(discovery.api_versions())
        if path == "/apis":
            return json_response(discovery.api_group_list())
        if parts[0] == "api" and len(parts) == 2:
            found = discovery.resource_list(parts[1], has_status)
        elif parts[0] == "apis" and len(parts) == 2:
            found = discovery.api_group(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            found = discovery.resource_list(f"{parts[1]}/{parts[2]}", has_status)
        elif path == "/openapi/v3":
            found = openapi.index()
        elif path.startswith("/openapi/v3/"):
            doc = openapi.documents().get(path[len("/openapi/v3/"):])
            if doc is None:
                raise not_found_path()
            return web.Response(body=doc, content_type="application/json",
                                headers={"Cache-Control": "public, immutable"})
        else:
            found = None
        if found is None:
            raise not_found_path()
        return json_response(found)

    def _has_status(self, kind: KindInfo) -> bool:
        return isinstance(self.service.strategies.of(kind), StatusStrategy)


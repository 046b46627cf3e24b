"""Which handler serves a pod's streaming subresource: log, exec, attach, portforward.

Why its own table: these subresources are not stored objects -- they are relayed to the
kubelet of the pod's node -- so `app.HttpApi` sends them here instead of to
`handlers.ResourceHandlers`, after the request was authenticated and authorized like any
other (`get pods/log`, `create pods/exec|attach|portforward`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from apiserver.http.errors import not_found_path
from apiserver.http.podlogs import serve_log
from apiserver.http.portforward import serve_portforward
from apiserver.http.routing import RequestInfo
from apiserver.http.streaming import serve_attach, serve_exec
from apiserver.logs import KubeletLogs

Handler = Callable[[web.Request, RequestInfo, KubeletLogs], Awaitable[web.StreamResponse]]
HANDLERS: dict[str, Handler] = {"log": serve_log, "exec": serve_exec, "attach": serve_attach,
                                "portforward": serve_portforward}


def is_pod_stream(info: RequestInfo) -> bool:
    return (info.is_resource_request and info.resource == "pods" and info.subresource in HANDLERS
            and not info.api_group)


async def serve_pod_stream(request: web.Request, info: RequestInfo, kubelet: KubeletLogs | None) -> web.StreamResponse:
    if kubelet is None or info.api_version != "v1" or not info.namespace or not info.name:
        raise not_found_path()
    return await HANDLERS[info.subresource](request, info, kubelet)

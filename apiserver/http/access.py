"""The HTTP side of access control: credentials from the TLS session and headers, attributes from the URL.

Why a separate module (like `apiserver/grpc_access.py` for gRPC): only this
code knows where an HTTP request carries who it is -- the client certificate
the TLS layer verified (the server asks for one but does not require it, so
pods with only a ServiceAccount token can connect), `Authorization: Bearer`,
and Kubernetes' `Impersonate-User` / `Impersonate-Group` / `Impersonate-Uid` /
`Impersonate-Extra-*` headers. The decision itself is the shared
`AccessControl`'s, so HTTP and gRPC can never disagree; refusals are the same
`Unauthorized` (401) and `Forbidden` (403) Status objects Kubernetes sends.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

from aiohttp import web

from apiserver.access import (
    REVIEW_GROUPS,
    AccessControl,
    Impersonation,
    bound_pod_of,
    created_name,
    current_user,
    impersonation_from,
    pinned_name,
)
from apiserver.authn import Credentials, UserInfo, parse_authorization
from apiserver.authn.user import NODES_GROUP
from apiserver.authz import Attributes
from apiserver.http.body import read_body
from apiserver.http.handlers import object_body
from apiserver.http.routing import RequestInfo
from kubelite.api.errors import ApiError

HTTP_VERBS = {"get": "get", "head": "get", "post": "post", "put": "put", "patch": "patch", "delete": "delete"}


def peer_certificate_pem(request: web.Request) -> bytes:
    """The client certificate the TLS handshake verified against the client CA (b"" when none)."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return b""
    der = ssl_object.getpeercert(binary_form=True)
    return ssl.DER_cert_to_PEM_cert(der).encode() if der else b""


def credentials(request: web.Request) -> Credentials:
    token = parse_authorization(request.headers.get("Authorization", ""))
    return Credentials(bearer_token=token, client_certificate_pem=peer_certificate_pem(request))


def impersonation(headers: Mapping[str, str] | web.Request) -> Impersonation | None:
    """Kubernetes' impersonation headers (repeated Impersonate-Group and Impersonate-Extra-* add values)."""
    items = headers.headers.items() if isinstance(headers, web.Request) else headers.items()
    return impersonation_from(items)


def attributes(info: RequestInfo, user: UserInfo, query: Mapping[str, str], body: bytes = b"") -> Attributes:
    """Kubernetes' authorizer attributes of one HTTP request (from `routing.request_info`); `body`:
    a create's body, for the name of the object it makes (only the Node authorizer needs it)."""
    if not info.is_resource_request:
        return Attributes(user, HTTP_VERBS.get(info.verb, info.verb), path=info.path.rstrip("/") or "/")
    name = info.name
    if info.verb in ("list", "watch"):
        name = pinned_name(query.get("fieldSelector", ""))
    group = REVIEW_GROUPS.get(info.resource, info.api_group)
    created = bound = ""
    if info.verb == "create" and body:
        if info.subresource:  # a TokenRequest: the pod its token is bound to
            bound = bound_pod_of(body)
        else:
            created = created_name(body)
    return Attributes(user, info.verb, info.resource, api_group=group, subresource=info.subresource,
                      namespace=info.namespace, name=name, body_name=created, bound_pod=bound)


class HttpAccess:
    """`HttpApi`'s authorizer hook: authenticate, authorize, and make the user the request's `current_user`."""

    def __init__(self, control: AccessControl) -> None:
        self.control = control
        self._body_names = "Node" in control.options.authorization_modes

    async def __call__(self, request: web.Request, info: RequestInfo) -> None:
        user = await self.control.authenticate(credentials(request), impersonation(request))
        # A create's body is read before authorization only for a node's request, which the Node
        # authorizer decides by the created object's name -- never for anyone else (e.g. anonymous).
        early = self._body_names and info.verb == "create" and NODES_GROUP in user.groups
        body = await read_body(request) if early else b""
        if body:
            try:  # as JSON, whatever the body's media type (kubectl's typed clients send protobuf)
                body = object_body(body, request.headers.get("Content-Type", ""))
            except ApiError:
                body = b""  # the handler reports the bad body once the request is allowed
        self.control.authorize(attributes(info, user, request.query, body))
        current_user.set(user)

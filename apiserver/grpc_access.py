"""The gRPC side of access control: credentials from the call, attributes from the request message.

Why separate from `access`: only this module knows where gRPC puts things --
the bearer token in the `authorization` metadata, impersonation in
`impersonate-user` / `impersonate-group` / `impersonate-uid`, the verified
client certificate in the TLS auth context (`x509_pem_cert`,
`x509_common_name`) -- and how each `kubelite.v1.Resources` method maps onto
Kubernetes' verbs and subresources (UpdateStatus = update pods/status, Bind =
create pods/binding, Logs = get pods/log, Exec = create pods/exec, PortForward = create
pods/portforward). The HTTP
adapter (`apiserver/http/access.py`) does the same from URLs and headers with the same
`AccessControl`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc.aio
from google.protobuf.message import Message

from apiserver import metricsapi, serverversion
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
from kubelite.api import registry
from kubelite.pb.kubelite import api_pb2

AUTHORIZATION = "authorization"

VERBS = {"Create": "create", "Get": "get", "List": "list", "Update": "update", "UpdateStatus": "update",
         "Delete": "delete", "Watch": "watch"}


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> list[tuple[str, str]]:
    pairs: Iterable[Any] = context.invocation_metadata() or ()
    out: list[tuple[str, str]] = []
    for item in pairs:
        key, value = item[0], item[1]
        if isinstance(value, bytes):
            continue  # binary (-bin) metadata carries no credentials
        out.append((str(key).lower(), str(value)))
    return out


def credentials(context: grpc.aio.ServicerContext[Any, Any]) -> Credentials:
    """The bearer token and the TLS-verified client certificate of this call."""
    token = ""
    for key, value in _metadata(context):
        if key == AUTHORIZATION:
            token = parse_authorization(value)
    auth: dict[str, Any] = {}
    try:
        auth = dict(context.auth_context() or {})
    except (AttributeError, ValueError):
        pass
    pem = b"".join(auth.get("x509_pem_cert", ())[:1])
    names = auth.get("x509_common_name", ())
    common_name = names[0].decode() if names and isinstance(names[0], bytes) else ""
    return Credentials(bearer_token=token, client_certificate_pem=pem, client_common_name=common_name)


def impersonation(context: grpc.aio.ServicerContext[Any, Any]) -> Impersonation | None:
    return impersonation_from(_metadata(context))


def attributes(method: str, request: Message, user: UserInfo, *, body_name: bool = True) -> Attributes:
    """Kubernetes' request attributes of one `kubelite.v1.Resources` call (`body_name`: also parse
    a create's body for the object's name, which only the Node authorizer needs)."""
    if isinstance(request, api_pb2.BindRequest):
        return Attributes(user, "create", "pods", subresource="binding",
                          namespace=request.namespace or "default", name=request.name)
    if isinstance(request, api_pb2.LogsRequest):
        return Attributes(user, "get", "pods", subresource="log", namespace=request.namespace or "default",
                          name=request.name)
    if isinstance(request, api_pb2.ExecRequest):
        return Attributes(user, "create", "pods", subresource="exec", namespace=request.start.namespace or "default",
                          name=request.start.name)
    if isinstance(request, api_pb2.PortForwardRequest):
        return Attributes(user, "create", "pods", subresource="portforward",
                          namespace=request.start.namespace or "default", name=request.start.name)
    if isinstance(request, api_pb2.GetRequest) and request.resource == serverversion.GRPC_RESOURCE:
        return Attributes(user, "get", path=serverversion.PATH)
    verb = VERBS[method]
    resource, _, subresource = str(getattr(request, "resource", "")).partition("/")  # serviceaccounts/token
    namespace = str(getattr(request, "namespace", ""))
    name = str(getattr(request, "name", ""))
    group = REVIEW_GROUPS.get(resource)
    namespaced = False
    if resource in metricsapi.GRPC_RESOURCES:  # pods.metrics.k8s.io: a read of the metrics API
        resource, group = metricsapi.GRPC_RESOURCES[resource], metricsapi.GROUP
        namespaced = metricsapi.RESOURCES[resource][1]
    elif group is None:
        info = registry.find(resource) if resource else None
        group = info.group if info is not None else ""
        if info is not None:
            resource, namespaced = info.resource, info.namespaced  # aliases cannot dodge a rule
    if namespaced and not namespace and verb not in ("list", "watch"):
        namespace = "default"  # the core's default for one object
    if not namespaced:
        namespace = ""
    if verb in ("list", "watch"):
        name = pinned_name(str(getattr(request, "field_selector", "")))
    created = bound = ""
    if isinstance(request, api_pb2.CreateRequest):
        if subresource:  # a subresource create names its parent object in the body (TokenRequest)
            name = created_name(request.json)
            bound = bound_pod_of(request.json) if body_name else ""
        elif body_name:
            created = created_name(request.json)
    if method == "UpdateStatus":
        subresource = "status"
    return Attributes(user, verb, resource, api_group=group, subresource=subresource, namespace=namespace,
                      name=name, body_name=created, bound_pod=bound)


class GrpcAccess:
    """Admits one gRPC call: authenticate, authorize, and make the user the call's `current_user`."""

    def __init__(self, control: AccessControl) -> None:
        self.control = control
        self._body_names = "Node" in control.options.authorization_modes

    async def admit(self, method: str, request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> UserInfo:
        user = await self.control.authenticate(credentials(context), impersonation(context))
        # Only the Node authorizer reads a create's body, and only for a node's request (as the
        # HTTP API does): anyone else's create body is parsed once, by the handler.
        body_name = self._body_names and NODES_GROUP in user.groups
        self.control.authorize(attributes(method, request, user, body_name=body_name))
        current_user.set(user)
        return user

    async def admitted_requests(self, method: str, requests: AsyncIterator[Message],
                                context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Message]:
        """The requests of a bidi call; the first (which names the pod) is admitted before it passes."""
        first = True
        async for request in requests:
            if first:
                await self.admit(method, request, context)
                first = False
            yield request

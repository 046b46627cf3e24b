"""Request attributes: what an HTTP request asks for, in Kubernetes' terms.

Why one function (`request_info`): authorization, audit and metrics all need the
same answer to "who does what to which object" -- verb, API group, version,
resource, subresource, namespace, name -- and Kubernetes derives it once from
the URL (its RequestInfoFactory). The handlers dispatch on it, and an
authorizer placed in front of the typed core reads it, so both always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from apiserver.http.errors import MethodNotAllowed, not_found_path
from kubelite.api import registry
from kubelite.api.registry import KindInfo

NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
SUBRESOURCES = frozenset({"status", "scale", "eviction", "binding", "approval"})
SCALABLE = frozenset({"deployments", "replicasets", "statefulsets"})
APPROVABLE = frozenset({"certificatesigningrequests"})
TRUE = frozenset({"1", "true", "True", "TRUE", "yes"})
CONNECT_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
"""Pod subresources that open a stream into a container: authorized as `create` whatever the method,
because kubectl's WebSocket upgrade is a GET (Kubernetes checks `create` for those upgrades too)."""


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """Kubernetes' request attributes; `verb` is the API verb, or the lower-case HTTP method
    for a non-resource path (`/version`, `/healthz`, discovery)."""

    path: str
    verb: str
    is_resource_request: bool = False
    api_prefix: str = ""  # "api" (the core group) or "apis"
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def group_version(self) -> str:
        return f"{self.api_group}/{self.api_version}" if self.api_group else self.api_version


def _resource_verb(method: str, name: str, query: Mapping[str, str]) -> str:
    if method in ("GET", "HEAD"):
        if query.get("watch", "") in TRUE:
            return "watch"
        return "get" if name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    raise MethodNotAllowed(f"the server does not allow this method on the requested resource: {method}")


def request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """The attributes of a request, like Kubernetes' `RequestInfoFactory.NewRequestInfo`.

    /api/v1/namespaces/ns/pods/name/status -> verb by method, resource pods, subresource status.
    /api/v1/namespaces/ns is the Namespace `ns` itself; /api/v1/pods is a list across namespaces.
    """
    parts = [p for p in path.strip("/").split("/") if p]
    nonresource = RequestInfo(path=path, verb=method.lower())
    if not parts or parts[0] not in ("api", "apis"):
        return nonresource
    prefix, rest = parts[0], parts[1:]
    if prefix == "api":
        if len(rest) < 2:
            return nonresource  # /api, /api/v1 (discovery)
        group, version, rest = "", rest[0], rest[1:]
    else:
        if len(rest) < 3:
            return nonresource  # /apis, /apis/apps, /apis/apps/v1
        group, version, rest = rest[0], rest[1], rest[2:]
    legacy_watch = rest[0] == "watch" and len(rest) > 1  # /api/v1/watch/namespaces/ns/pods (deprecated)
    if legacy_watch:
        rest = rest[1:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if len(rest) > 3:
        raise not_found_path()
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "pods" and subresource in CONNECT_SUBRESOURCES and method in ("GET", "POST"):
        verb = "create"
    else:
        verb = "watch" if legacy_watch and method == "GET" else _resource_verb(method, name, query)
    return RequestInfo(path=path, verb=verb, is_resource_request=True, api_prefix=prefix, api_group=group,
                       api_version=version, resource=resource, subresource=subresource, namespace=namespace,
                       name=name)


def has_subresource(kind: KindInfo, subresource: str) -> bool:
    """Whether `kind` serves `scale` (or, for a custom kind, `status`): built-ins by table, CRDs by their spec."""
    if kind.custom is not None:
        return kind.custom.status if subresource == "status" else kind.custom.scale is not None
    return subresource != "scale" or kind.resource in SCALABLE


def resolve_kind(info: RequestInfo) -> KindInfo:
    """The registered kind a resource request names, served only at its own group/version (else 404)."""
    kind = registry.find(f"{info.resource}.{info.api_group}" if info.api_group else info.resource)
    if kind is None or kind.resource != info.resource or kind.group != info.api_group \
            or kind.version != info.api_version:
        raise not_found_path()
    if info.subresource and (info.subresource not in SUBRESOURCES or not has_subresource(kind, info.subresource)
                             or (info.subresource in ("eviction", "binding") and kind.resource != "pods")
                             or (info.subresource == "approval" and kind.resource not in APPROVABLE)):
        raise not_found_path()
    if kind.namespaced:
        if not info.namespace and info.verb not in ("list", "watch"):
            raise not_found_path()
    elif info.namespace and kind.resource != "namespaces":
        raise not_found_path()
    return kind

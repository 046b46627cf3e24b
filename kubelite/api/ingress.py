"""networking.k8s.io/v1 Ingress and IngressClass, and their validation.

Why modelled strictly: the nginx ingress controller honours exactly these
fields (host/path rules, the three path types, a default backend, TLS from
Secrets); anything else fails decoding instead of being stored and ignored.
Resource backends (`backend.resource`) are not routable by nginx here, so
they are refused by validation with a message naming the field.
"""

from __future__ import annotations

from pydantic import Field

from kubelite.api.base import Int32, KubeModel
from kubelite.api.core import LoadBalancerIngress
from kubelite.api.errors import StatusCause
from kubelite.api.meta import Resource
from kubelite.api.names import dns1123_label_error, dns1123_subdomain_error, iana_svc_name_error

PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
NGINX_CONTROLLER = "kubelite.io/ingress-nginx"


class ServiceBackendPort(KubeModel):
    name: str | None = None
    number: Int32 | None = None


class IngressServiceBackend(KubeModel):
    name: str = ""
    port: ServiceBackendPort | None = None


class TypedLocalObjectReference(KubeModel):
    api_group: str | None = None
    kind: str = ""
    name: str = ""


class IngressBackend(KubeModel):
    service: IngressServiceBackend | None = None
    resource: TypedLocalObjectReference | None = None


class HTTPIngressPath(KubeModel):
    path: str | None = None
    path_type: str | None = None
    backend: IngressBackend = Field(default_factory=IngressBackend)


class HTTPIngressRuleValue(KubeModel):
    paths: list[HTTPIngressPath] = Field(default_factory=list)


class IngressRule(KubeModel):
    host: str | None = None
    http: HTTPIngressRuleValue | None = None


class IngressTLS(KubeModel):
    hosts: list[str] = Field(default_factory=list)
    secret_name: str | None = None


class IngressSpec(KubeModel):
    ingress_class_name: str | None = None
    default_backend: IngressBackend | None = None
    tls: list[IngressTLS] = Field(default_factory=list)
    rules: list[IngressRule] = Field(default_factory=list)


class IngressLoadBalancerStatus(KubeModel):
    ingress: list[LoadBalancerIngress] = Field(default_factory=list)


class IngressStatus(KubeModel):
    load_balancer: IngressLoadBalancerStatus = Field(default_factory=IngressLoadBalancerStatus)


class Ingress(Resource):
    """HTTP(S) routes from outside the cluster to Services, served by the nginx ingress controller."""

    api_version: str = "networking.k8s.io/v1"
    kind: str = "Ingress"
    spec: IngressSpec = Field(default_factory=IngressSpec)
    status: IngressStatus = Field(default_factory=IngressStatus)


class IngressClassSpec(KubeModel):
    controller: str = ""
    parameters: TypedLocalObjectReference | None = None


class IngressClass(Resource):
    """Names the controller that serves Ingresses of this class (`nginx` is created at bootstrap)."""

    api_version: str = "networking.k8s.io/v1"
    kind: str = "IngressClass"
    spec: IngressClassSpec = Field(default_factory=IngressClassSpec)


# --- validation ----------------------------------------------------------------------


def _host_error(host: str) -> str | None:
    """A host is a DNS subdomain, optionally with one leading `*.` wildcard label."""
    name = host[2:] if host.startswith("*.") else host
    return dns1123_subdomain_error(name) if "*" not in name else "a wildcard is only allowed as the first label"


def _backend(backend: IngressBackend, path: str, out: list[StatusCause]) -> None:
    if backend.resource is not None:
        out.append(StatusCause.invalid(f"{path}.resource", backend.resource.name,
                                       "resource backends are not supported by the nginx ingress controller"))
    svc = backend.service
    if svc is None:
        if backend.resource is None:
            out.append(StatusCause.required(f"{path}.service"))
        return
    if not svc.name:
        out.append(StatusCause.required(f"{path}.service.name"))
    elif (err := dns1123_label_error(svc.name)) is not None:
        out.append(StatusCause.invalid(f"{path}.service.name", svc.name, err))
    port = svc.port
    if port is None or (port.name is None and port.number is None):
        out.append(StatusCause.required(f"{path}.service.port", "a port name or number"))
    elif port.name is not None and port.number is not None:
        out.append(StatusCause.invalid(f"{path}.service.port", port.name, "cannot set both port name & number"))
    elif port.number is not None and not 1 <= port.number <= 65535:
        out.append(StatusCause.invalid(f"{path}.service.port.number", port.number,
                                       "must be between 1 and 65535, inclusive"))
    elif port.name is not None and (err := iana_svc_name_error(port.name)) is not None:
        out.append(StatusCause.invalid(f"{path}.service.port.name", port.name, err))


def _path(p: HTTPIngressPath, at: str, out: list[StatusCause]) -> None:
    if p.path_type is None:
        out.append(StatusCause.required(f"{at}.pathType", "pathType must be specified"))
    elif p.path_type not in PATH_TYPES:
        out.append(StatusCause.not_supported(f"{at}.pathType", p.path_type, PATH_TYPES))
    value = p.path or ""
    if p.path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            out.append(StatusCause.invalid(f"{at}.path", value, "must be an absolute path"))
        elif "//" in value or any(c in value for c in "{};\"' \t\n"):
            out.append(StatusCause.invalid(f"{at}.path", value, "must not contain '//', quotes, braces, "
                                           "';' or whitespace"))
    elif value and (not value.startswith("/") or any(c in value for c in "{};\"' \t\n")):
        out.append(StatusCause.invalid(f"{at}.path", value, "must be an absolute path without quotes, braces, "
                                       "';' or whitespace"))
    _backend(p.backend, f"{at}.backend", out)


def validate_ingress(obj: Ingress, out: list[StatusCause]) -> None:
    spec = obj.spec
    if spec.ingress_class_name is not None and (err := dns1123_subdomain_error(spec.ingress_class_name)):
        out.append(StatusCause.invalid("spec.ingressClassName", spec.ingress_class_name, err))
    if spec.default_backend is None and not spec.rules:
        out.append(StatusCause.required("spec", "either `defaultBackend` or `rules` must be specified"))
    if spec.default_backend is not None:
        _backend(spec.default_backend, "spec.defaultBackend", out)
    for i, rule in enumerate(spec.rules):
        at = f"spec.rules[{i}]"
        if rule.host and (err := _host_error(rule.host)) is not None:
            out.append(StatusCause.invalid(f"{at}.host", rule.host, err))
        if rule.http is None:
            continue
        if not rule.http.paths:
            out.append(StatusCause.required(f"{at}.http.paths"))
        for j, p in enumerate(rule.http.paths):
            _path(p, f"{at}.http.paths[{j}]", out)
    for i, tls in enumerate(spec.tls):
        at = f"spec.tls[{i}]"
        if not tls.secret_name:
            out.append(StatusCause.required(f"{at}.secretName", "the kubernetes.io/tls Secret serving these hosts"))
        elif (err := dns1123_subdomain_error(tls.secret_name)) is not None:
            out.append(StatusCause.invalid(f"{at}.secretName", tls.secret_name, err))
        for j, host in enumerate(tls.hosts):
            if (err := _host_error(host)) is not None:
                out.append(StatusCause.invalid(f"{at}.hosts[{j}]", host, err))


def validate_ingress_class(obj: IngressClass, out: list[StatusCause]) -> None:
    if not obj.spec.controller:
        out.append(StatusCause.required("spec.controller"))
    elif obj.spec.controller != NGINX_CONTROLLER:
        out.append(StatusCause.not_supported("spec.controller", obj.spec.controller, [NGINX_CONTROLLER]))
    if obj.spec.parameters is not None:
        out.append(StatusCause.invalid("spec.parameters", obj.spec.parameters.name,
                                       "parameters are not supported by the nginx ingress controller"))

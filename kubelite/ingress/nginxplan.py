"""Ingresses + Services + Endpoints + TLS Secrets -> one nginx configuration (pure).

Why pure: the whole routing decision (which host and path goes to which pod
addresses, which certificate a host serves) is testable with golden files and
no nginx; the agent only writes what this returns and asks nginx to reload.

Path semantics follow Kubernetes' Ingress definition:
- Exact `/foo`: only `/foo` (an nginx `location = /foo`);
- Prefix `/foo` (or `/foo/`): `/foo` and everything under `/foo/`, element-wise,
  so `/foobar` does not match (`location = /foo` plus `location /foo/`); the
  longest prefix wins, which is nginx's own choice among prefix locations;
- ImplementationSpecific: nginx's plain string prefix (`location /foo`).
When two Ingresses claim the same host and location, the older one wins (by
creation time, then namespace/name) and the other gets a problem reported as
an event. A backend whose Service is missing answers 503 and is reported too;
every other route keeps working.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kubelite.api.core import Endpoints, Secret, Service
from kubelite.api.ingress import Ingress, IngressBackend

TLS_SECRET_TYPE = "kubernetes.io/tls"
DEFAULT_HOST = ""  # the catch-all server: rules without a host, and the default backend


@dataclass(frozen=True)
class Problem:
    """Something wrong with one Ingress, reported as a Warning event on it."""

    namespace: str
    name: str
    reason: str
    message: str


@dataclass(frozen=True)
class Location:
    match: str  # "= /foo", "/foo/", "/foo"
    upstream: str | None  # None: no endpoints or missing Service -> 503


@dataclass
class Server:
    host: str
    locations: dict[str, Location] = field(default_factory=dict)
    cert: str | None = None  # file name under the certificate directory


@dataclass
class NginxPlan:
    servers: dict[str, Server] = field(default_factory=dict)
    upstreams: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> "ip:port" servers
    certs: dict[str, bytes] = field(default_factory=dict)  # file name -> PEM (certificate then key)
    problems: list[Problem] = field(default_factory=list)
    served: list[tuple[str, str]] = field(default_factory=list)  # (namespace, name) of Ingresses served


def _key(ing: Ingress) -> tuple[str, str, str]:
    return (str(ing.metadata.creation_timestamp or ""), ing.metadata.namespace or "", ing.metadata.name or "")


def _locations(path: str | None, path_type: str | None) -> list[str]:
    p = path or "/"
    if path_type == "Exact":
        return [f"= {p}"]
    if path_type == "Prefix":
        base = p.rstrip("/")
        return ["/"] if not base else [f"= {base}", f"{base}/"]
    return [p]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


class _Builder:
    def __init__(self, services: Iterable[Service], endpoints: Iterable[Endpoints], secrets: Iterable[Secret]):
        self.services = {(s.metadata.namespace, s.metadata.name): s for s in services}
        self.endpoints = {(e.metadata.namespace, e.metadata.name): e for e in endpoints}
        self.secrets = {(s.metadata.namespace, s.metadata.name): s for s in secrets}
        self.plan = NginxPlan()

    def problem(self, ing: Ingress, reason: str, message: str) -> None:
        self.plan.problems.append(Problem(ing.metadata.namespace or "", ing.metadata.name or "", reason, message))

    def upstream(self, ing: Ingress, backend: IngressBackend) -> str | None:
        """The upstream name of a Service backend (None when it cannot be served: reported)."""
        ns = ing.metadata.namespace or ""
        ref = backend.service
        if ref is None or ref.port is None:
            return None
        svc = self.services.get((ns, ref.name))
        if svc is None:
            self.problem(ing, "ServiceNotFound", f"backend Service {ns}/{ref.name} not found")
            return None
        want = ref.port.name if ref.port.name is not None else ref.port.number
        port = next((p for p in svc.spec.ports if want in (p.name, p.port)), None)
        if port is None:
            self.problem(ing, "PortNotFound", f"Service {ns}/{ref.name} has no port {want}")
            return None
        name = _safe(f"{ns}-{ref.name}-{port.port}")
        if name not in self.plan.upstreams:
            ep = self.endpoints.get((ns, ref.name))
            addrs: set[str] = set()
            for subset in ep.subsets if ep is not None else []:
                for ep_port in subset.ports:
                    if ep_port.name == port.name or len(subset.ports) == 1 and not port.name:
                        addrs.update(f"{a.ip}:{ep_port.port}" for a in subset.addresses)
            if not addrs:
                return None
            self.plan.upstreams[name] = tuple(sorted(addrs))
        return name

    def cert(self, ing: Ingress, secret_name: str) -> str | None:
        ns = ing.metadata.namespace or ""
        secret = self.secrets.get((ns, secret_name))
        if secret is None or secret.type != TLS_SECRET_TYPE:
            self.problem(ing, "SecretNotFound", f"TLS Secret {ns}/{secret_name} not found or not {TLS_SECRET_TYPE}")
            return None
        try:
            crt = base64.b64decode(secret.data.get("tls.crt", ""), validate=True)
            key = base64.b64decode(secret.data.get("tls.key", ""), validate=True)
        except (binascii.Error, ValueError):
            crt = key = b""
        if b"CERTIFICATE" not in crt or b"PRIVATE KEY" not in key:
            self.problem(ing, "InvalidSecret", f"TLS Secret {ns}/{secret_name} lacks a PEM tls.crt and tls.key")
            return None
        name = _safe(f"{ns}-{secret_name}.pem")
        self.plan.certs[name] = crt.rstrip(b"\n") + b"\n" + key.rstrip(b"\n") + b"\n"
        return name

    def add(self, ing: Ingress) -> None:
        self.plan.served.append((ing.metadata.namespace or "", ing.metadata.name or ""))
        for rule in ing.spec.rules:
            server = self.plan.servers.setdefault(rule.host or DEFAULT_HOST, Server(rule.host or DEFAULT_HOST))
            for p in rule.http.paths if rule.http is not None else []:
                upstream = self.upstream(ing, p.backend)
                for match in _locations(p.path, p.path_type):
                    if match in server.locations:
                        if server.locations[match].upstream != upstream:
                            self.problem(ing, "Conflict", f"host {rule.host or '*'} location {match} "
                                         "is already served by an older Ingress")
                        continue
                    server.locations[match] = Location(match, upstream)
        if ing.spec.default_backend is not None:
            upstream = self.upstream(ing, ing.spec.default_backend)
            hosts = {r.host or DEFAULT_HOST for r in ing.spec.rules} | {DEFAULT_HOST}
            for host in sorted(hosts):
                server = self.plan.servers.setdefault(host, Server(host))
                server.locations.setdefault("/", Location("/", upstream))
        for tls in ing.spec.tls:
            cert = self.cert(ing, tls.secret_name or "") if tls.secret_name else None
            for host in tls.hosts:
                server = self.plan.servers.setdefault(host, Server(host))
                if cert is not None and server.cert is None:
                    server.cert = cert


def plan(ingresses: Iterable[Ingress], services: Iterable[Service], endpoints: Iterable[Endpoints],
         secrets: Iterable[Secret], served_classes: Sequence[str], default_class: str | None) -> NginxPlan:
    """What nginx should serve for the Ingresses of `served_classes` (no class = `default_class`)."""
    builder = _Builder(services, endpoints, secrets)
    for ing in sorted(ingresses, key=_key):
        cls = ing.spec.ingress_class_name or default_class
        if cls in served_classes:
            builder.add(ing)
    return builder.plan


@dataclass(frozen=True)
class Paths:
    """Where one cluster's nginx keeps its files (all under the cluster's data dir)."""

    prefix: str
    cert_dir: str

    @property
    def pid_file(self) -> str:
        return f"{self.prefix}/nginx.pid"


def _server_block(server: Server, listen: Sequence[str], http_port: int, https_port: int,
                  cert_dir: str) -> list[str]:
    default = " default_server" if server.host == DEFAULT_HOST else ""
    lines = ["  server {"]
    lines += [f"    listen {ip}:{http_port}{default};" for ip in listen]
    if server.cert is not None:
        lines += [f"    listen {ip}:{https_port} ssl{default};" for ip in listen]
        lines += [f"    ssl_certificate {cert_dir}/{server.cert};", f"    ssl_certificate_key {cert_dir}/{server.cert};"]
    elif default:
        lines += [f"    listen {ip}:{https_port} ssl{default};" for ip in listen]
        lines.append("    ssl_reject_handshake on;")
    lines.append(f"    server_name {server.host or '_'};")
    locations = dict(server.locations)
    for match in sorted(locations):
        loc = locations[match]
        lines.append(f"    location {match} {{")
        lines.append(f"      proxy_pass http://{loc.upstream};" if loc.upstream else "      return 503;")
        lines.append("    }")
    if "/" not in locations:
        lines += ["    location / {", "      return 404;", "    }"]
    lines.append("  }")
    return lines


def render(p: NginxPlan, paths: Paths, listen: Sequence[str], http_port: int = 80, https_port: int = 443,
           user: str | None = None) -> str:
    """The complete nginx.conf text for `p`, listening on `listen` addresses (the node IPs); `user`:
    the workers' user when started as root."""
    lines = [
        "# Written by the kubelite ingress controller; every change is overwritten.",
        *([f"user {user};"] if user else []),
        "daemon on;",
        "worker_processes 1;",
        f"pid {paths.pid_file};",
        f"error_log {paths.prefix}/error.log warn;",
        "events {",
        "  worker_connections 1024;",
        "}",
        "http {",
        f"  access_log {paths.prefix}/access.log;",
        f"  client_body_temp_path {paths.prefix}/tmp/body;",
        f"  proxy_temp_path {paths.prefix}/tmp/proxy;",
        f"  fastcgi_temp_path {paths.prefix}/tmp/fastcgi;",
        f"  uwsgi_temp_path {paths.prefix}/tmp/uwsgi;",
        f"  scgi_temp_path {paths.prefix}/tmp/scgi;",
        "  server_names_hash_bucket_size 128;",
        "  proxy_http_version 1.1;",
        "  proxy_set_header Host $host;",
        "  proxy_set_header Connection \"\";",
        "  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "  proxy_set_header X-Forwarded-Proto $scheme;",
        "  proxy_next_upstream error timeout http_502;",
        # Stream bodies instead of spooling them to temp files: the unprivileged workers may not be able
        # to reach a data dir under a root-only parent, and streaming suits long-lived responses anyway.
        "  proxy_buffering off;",
        "  proxy_request_buffering off;",
    ]
    for name in sorted(p.upstreams):
        lines.append(f"  upstream {name} {{")
        lines += [f"    server {addr};" for addr in p.upstreams[name]]
        lines.append("  }")
    servers = dict(p.servers)
    servers.setdefault(DEFAULT_HOST, Server(DEFAULT_HOST))
    for host in sorted(servers):
        lines += _server_block(servers[host], listen, http_port, https_port, paths.cert_dir)
    lines.append("}")
    return "\n".join(lines) + "\n"

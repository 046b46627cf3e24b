"""The nginx configuration rendered from Ingresses: golden text, path semantics, problems, and `nginx -t`."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kubelite.api.core import Endpoints, Secret, Service
from kubelite.api.ingress import Ingress
from kubelite.ingress.nginxplan import Paths, plan, render

GOLDEN = Path(__file__).parent / "golden"
CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def _backend(svc: str, port: Any = 80) -> dict[str, Any]:
    key = "number" if isinstance(port, int) else "name"
    return {"service": {"name": svc, "port": {key: port}}}


def _ing(name: str, created: str, spec: dict[str, Any]) -> Ingress:
    return Ingress.from_dict({"metadata": {"name": name, "namespace": "d", "creationTimestamp": created},
                              "spec": spec})


def _svc(name: str) -> Service:
    return Service.from_dict({"metadata": {"name": name, "namespace": "d"},
                              "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})


def _ep(name: str, *ips: str) -> Endpoints:
    return Endpoints.from_dict({"metadata": {"name": name, "namespace": "d"},
                                "subsets": [{"addresses": [{"ip": ip} for ip in ips],
                                             "ports": [{"name": "http", "port": 8080}]}]})


def _world() -> tuple[list[Ingress], list[Service], list[Endpoints], list[Secret]]:
    ings = [
        _ing("a", "2020-01-01T00:00:00Z", {
            "rules": [{"host": "a.example.com", "http": {"paths": [
                {"path": "/app/", "pathType": "Prefix", "backend": _backend("web")},
                {"path": "/exact", "pathType": "Exact", "backend": _backend("api", "http")},
                {"path": "/impl", "pathType": "ImplementationSpecific", "backend": _backend("web")},
                {"path": "/", "pathType": "Prefix", "backend": _backend("gone")}]}}],
            "tls": [{"hosts": ["a.example.com"], "secretName": "a-tls"}]}),
        _ing("b", "2020-01-02T00:00:00Z", {
            "defaultBackend": _backend("api"),
            "rules": [{"host": "a.example.com", "http": {"paths": [
                {"path": "/app", "pathType": "Prefix", "backend": _backend("api")}]}}]}),
    ]
    tls = Secret.from_dict({"metadata": {"name": "a-tls", "namespace": "d"}, "type": "kubernetes.io/tls",
                            "data": {"tls.crt": base64.b64encode(CERT).decode(),
                                     "tls.key": base64.b64encode(KEY).decode()}})
    return ings, [_svc("web"), _svc("api")], [_ep("web", "10.1.0.5", "10.1.0.4"), _ep("api", "10.1.0.9")], [tls]


def _rendered(tmp: str = "/data/ingress") -> tuple[str, Any]:
    ings, svcs, eps, secrets = _world()
    p = plan(ings, svcs, eps, secrets, ["nginx"], "nginx")
    return render(p, Paths(tmp, f"{tmp}/certs"), ["172.30.0.2"], 80, 443), p


def test_config_matches_golden() -> None:
    text, _ = _rendered()
    golden = GOLDEN / "two_ingresses.conf"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_path_semantics_and_upstreams() -> None:
    text, p = _rendered()
    assert p.upstreams == {"d-web-80": ("10.1.0.4:8080", "10.1.0.5:8080"), "d-api-80": ("10.1.0.9:8080",)}
    assert "location = /app {" in text and "location /app/ {" in text  # Prefix: element-wise
    assert "location = /exact {" in text and "location /impl {" in text


def test_missing_service_and_conflicts_are_problems_not_failures() -> None:
    _, p = _rendered()
    reasons = sorted((pr.name, pr.reason) for pr in p.problems)
    assert reasons == [("a", "ServiceNotFound"), ("b", "Conflict"), ("b", "Conflict")]
    assert p.certs == {"d-a-tls.pem": CERT + KEY}


def test_other_class_is_not_served() -> None:
    ings, svcs, eps, secrets = _world()
    assert plan(ings, svcs, eps, secrets, ["other"], "nginx").servers == {}


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_real_nginx_accepts_the_config(tmp_path: Path) -> None:
    """`nginx -t` parses the rendered text (a real certificate, since nginx loads it)."""
    ings, svcs, eps, _ = _world()
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=a.example.com",
                    "-keyout", str(key), "-out", str(crt), "-days", "1"], check=True, capture_output=True)
    secret = Secret.from_dict({"metadata": {"name": "a-tls", "namespace": "d"}, "type": "kubernetes.io/tls",
                               "data": {"tls.crt": base64.b64encode(crt.read_bytes()).decode(),
                                        "tls.key": base64.b64encode(key.read_bytes()).decode()}})
    p = plan(ings, svcs, eps, [secret], ["nginx"], "nginx")
    paths = Paths(str(tmp_path), str(tmp_path / "certs"))
    (tmp_path / "certs").mkdir()
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "tmp" / d).mkdir(parents=True)
    for name, pem in p.certs.items():
        (tmp_path / "certs" / name).write_bytes(pem)
    conf = tmp_path / "nginx.conf"
    conf.write_text(render(p, paths, ["127.0.0.1"], 18080, 18443))
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

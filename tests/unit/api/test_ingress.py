"""Ingress/IngressClass validation names the offending field; the table looks like kubectl's."""

from __future__ import annotations

from typing import Any

from kubelite.api import registry
from kubelite.api.columns import table_for
from kubelite.api.validation import validate


def _ingress(paths: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "d"},
            "spec": {"rules": [{"host": "a.example.com", "http": {"paths": paths}}], **spec}}


def _fields(obj: dict[str, Any]) -> list[str]:
    model = registry.lookup("ingresses").model.from_dict(obj)
    return [c.field for c in validate(model)]


GOOD = {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}


def test_valid_ingress_has_no_errors() -> None:
    assert _fields(_ingress([GOOD], tls=[{"hosts": ["a.example.com"], "secretName": "a-tls"}])) == []


def test_path_type_is_required_and_checked() -> None:
    missing = {**GOOD, "pathType": None}
    wrong = {**GOOD, "pathType": "Regex"}
    assert _fields(_ingress([missing, wrong])) == ["spec.rules[0].http.paths[0].pathType",
                                                   "spec.rules[0].http.paths[1].pathType"]


def test_backend_needs_service_name_and_port() -> None:
    bad = {**GOOD, "backend": {"service": {"name": "", "port": {}}}}
    assert _fields(_ingress([bad])) == ["spec.rules[0].http.paths[0].backend.service.name",
                                        "spec.rules[0].http.paths[0].backend.service.port"]


def test_tls_needs_a_secret_name() -> None:
    assert _fields(_ingress([GOOD], tls=[{"hosts": ["a.example.com"]}])) == ["spec.tls[0].secretName"]


def test_ingress_class_must_name_the_nginx_controller() -> None:
    cls = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "x"},
           "spec": {"controller": "example.com/other"}}
    assert [c.field for c in validate(registry.lookup("ingressclasses").model.from_dict(cls))] == ["spec.controller"]


def test_table_columns_match_kubectl() -> None:
    obj = _ingress([GOOD], ingressClassName="nginx", tls=[{"secretName": "s"}])
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}]}}
    obj["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    table = table_for("Ingress", [obj])
    text = str(table)
    for want in ("CLASS", "HOSTS", "ADDRESS", "PORTS", "nginx", "a.example.com", "10.0.0.2", "80, 443"):
        assert want in text, text

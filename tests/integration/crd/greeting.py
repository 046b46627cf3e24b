"""The `Greeting` CustomResourceDefinition the CRD tests (and the kopf operator) use."""

from __future__ import annotations

from typing import Any

GROUP = "demo.kubelite.io"
CRD_NAME = f"greetings.{GROUP}"


def greeting_crd(scope: str = "Namespaced") -> dict[str, Any]:
    spec_schema = {
        "type": "object", "required": ["message"],
        "properties": {
            "message": {"type": "string", "minLength": 1, "maxLength": 64, "description": "What to say."},
            "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
            "style": {"type": "string", "enum": ["plain", "loud"], "default": "plain"},
            "port": {"x-kubernetes-int-or-string": True},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP, "scope": scope,
            "names": {"plural": "greetings", "singular": "greeting", "kind": "Greeting", "shortNames": ["gr"],
                      "listKind": "GreetingList"},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                         "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [
                    {"name": "Message", "type": "string", "jsonPath": ".spec.message"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                ],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": spec_schema,
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                }}},
            }],
        },
    }


def greeting(name: str, message: str = "hello", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Greeting", "metadata": {"name": name},
            "spec": {"message": message, **spec}}

"""A small kopf operator: each `Greeting` becomes a ConfigMap holding its message.

Run by tests/integration/crd/test_kopf_operator.py with `kopf run --standalone`
against the test apiserver. It exercises what kopf needs from a Kubernetes API:
discovery, watches with bookmarks, merge patches (its annotations and
finalizer), the status subresource, Events, and a second client (the
`kubernetes` package) creating the owned ConfigMap.
"""

from __future__ import annotations

from typing import Any

import kopf
import kubernetes

GROUP, VERSION, PLURAL = "demo.kubelite.io", "v1", "greetings"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.watching.server_timeout = 30
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="greetings.demo.kubelite.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="greetings.demo.kubelite.io")
    kubernetes.config.load_kube_config()


def _config_map(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    message = str(spec.get("message", ""))
    if spec.get("style") == "loud":
        message = message.upper()
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": f"greeting-{name}", "namespace": namespace},
                            "data": {"message": message, "replicas": str(spec.get("replicas", 1))}}
    kopf.adopt(body)
    return body


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
@kopf.on.resume(GROUP, VERSION, PLURAL)
def reconcile(name: str, namespace: str, spec: dict[str, Any], body: kopf.Body, patch: kopf.Patch, logger: Any,
              **_: Any) -> None:
    core = kubernetes.client.CoreV1Api()
    config_map = _config_map(name, namespace, dict(spec))
    try:
        core.create_namespaced_config_map(namespace, config_map)
    except kubernetes.client.ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_config_map(config_map["metadata"]["name"], namespace, config_map)
    logger.info("greeting reconciled into a ConfigMap")
    kopf.info(body, reason="Reconciled", message=f"wrote ConfigMap {config_map['metadata']['name']}")
    patch.status["phase"] = "Ready"
    patch.status["configMap"] = config_map["metadata"]["name"]

"""The `scale` subresource of a custom kind: an `autoscaling/v1 Scale` over the CRD's paths.

Why separate from the built-in kinds' Scale (`http.handlers`): a CRD says
where its replicas live (`specReplicasPath: .spec.replicas`, ...), so reading
and writing them goes through those paths; `kubectl scale` and autoscalers
see the same Scale object either way.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.custom import ScalePaths, read_path, write_path
from kubelite.api.errors import BadRequest


def scale_of(obj: dict[str, Any], paths: ScalePaths) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    replicas = read_path(obj, paths.spec_replicas)
    status_replicas = read_path(obj, paths.status_replicas)
    selector = read_path(obj, paths.label_selector) if paths.label_selector else None
    status: dict[str, Any] = {"replicas": status_replicas if isinstance(status_replicas, int) else 0}
    if isinstance(selector, str) and selector:
        status["selector"] = selector
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": replicas if isinstance(replicas, int) else 0},
        "status": status,
    }


def set_replicas(obj: dict[str, Any], paths: ScalePaths, replicas: int) -> None:
    try:
        write_path(obj, paths.spec_replicas, replicas)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None

"""The `scale` subresource (`autoscaling/v1 Scale`) of Deployments, ReplicaSets, StatefulSets and
scalable custom kinds, for both the HTTP API and gRPC.

Why shared: kubectl scales over HTTP and the hpa controller over gRPC; both must see
the same Scale and change only `spec.replicas`, under the same optimistic lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from apiserver.crd import scale as custom_scale
from apiserver.service import ResourceService
from kubelite.api import columns
from kubelite.api.errors import BadRequest, Conflict, NotFound
from kubelite.api.registry import KindInfo

SCALABLE = frozenset({"deployments", "replicasets", "statefulsets"})


def is_scalable(kind: KindInfo) -> bool:
    if kind.custom is not None:
        return kind.custom.scale is not None
    return kind.resource in SCALABLE


def scale_of(obj: dict[str, Any], kind: KindInfo | None = None) -> dict[str, Any]:
    """The `autoscaling/v1 Scale` view of a scalable object."""
    if kind is not None and kind.custom is not None and kind.custom.scale is not None:
        return custom_scale.scale_of(obj, kind.custom.scale)
    meta = obj.get("metadata", {})
    spec_replicas = columns.dig(obj, "spec", "replicas")
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec_replicas if spec_replicas is not None else 1},
        "status": {"replicas": columns.num(columns.dig(obj, "status", "replicas")),
                   "selector": "" if columns.dig(obj, "spec", "selector") is None
                   else columns.selector_text(columns.dig(obj, "spec", "selector"))},
    }


def replace_with(wanted: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The change of an update (PUT): the request's Scale, whatever the current one."""
    return lambda _current: wanted


def _check(kind: KindInfo, name: str) -> None:
    if not is_scalable(kind):
        raise NotFound(f"{kind.qualified_resource} have no scale subresource", name=name, kind=kind.resource)


async def get_scale(service: ResourceService, kind: KindInfo, namespace: str, name: str) -> dict[str, Any]:
    _check(kind, name)
    return scale_of(json.loads(await service.get(kind.resource, namespace, name)), kind)


async def update_scale(service: ResourceService, kind: KindInfo, namespace: str, name: str,
                       change: Callable[[dict[str, Any]], Any], *, dry_run: bool = False) -> dict[str, Any]:
    """Set `spec.replicas` from `change(current Scale)` (the new Scale); a resourceVersion in it must match."""
    _check(kind, name)

    def apply(current: dict[str, Any]) -> dict[str, Any]:
        new_scale = change(scale_of(current, kind))
        if not isinstance(new_scale, dict):
            raise BadRequest("a Scale must be a JSON object")
        replicas = columns.dig(new_scale, "spec", "replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise BadRequest(f"spec.replicas must be a non-negative integer, got {replicas!r}")
        rv = columns.dig(new_scale, "metadata", "resourceVersion")
        if rv and rv != columns.dig(current, "metadata", "resourceVersion"):
            raise Conflict.for_object(kind.resource, name)
        if kind.custom is not None and kind.custom.scale is not None:
            custom_scale.set_replicas(current, kind.custom.scale, replicas)
        else:
            current.setdefault("spec", {})["replicas"] = replicas
        return current

    updated = await service.patch(kind.resource, namespace, name, apply, dry_run=dry_run)
    return scale_of(json.loads(updated), kind)

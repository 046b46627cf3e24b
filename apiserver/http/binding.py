"""`pods/binding`: POST a `v1 Binding` to assign a pending pod to a node (a scheduler's write).

Why over HTTP too: a scheduler written with a Kubernetes client library (client-go,
the Python `kubernetes` client, an operator framework) binds this way; kubelite's own
scheduler uses the gRPC Bind. Both end in `ResourceService.bind`, which refuses a pod
that is already bound. Answered like Kubernetes with 201 and a Success `Status`.
Authorization is the request's own (`create` on `pods/binding`), checked before this
runs; the RBAC role of `system:kube-scheduler` grants it.
"""

from __future__ import annotations

from typing import Any

from apiserver.http.errors import MethodNotAllowed
from apiserver.http.routing import RequestInfo
from apiserver.service import ResourceService
from kubelite.api.errors import BadRequest, Invalid, StatusCause


def _binding_target(body: Any, pod_name: str) -> tuple[str, str, dict[str, str]]:
    """(node name, pod uid precondition or "", annotations to merge into the pod's) from a
    Binding body; a clear error naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("the body of a binding must be a v1 Binding object")
    if body.get("kind") not in (None, "Binding") or body.get("apiVersion") not in (None, "v1"):
        raise BadRequest(f"expected a v1 Binding, got {body.get('apiVersion')}/{body.get('kind')}")
    meta = body.get("metadata") or {}
    if not isinstance(meta, dict):
        raise BadRequest("metadata of a Binding must be an object")
    if meta.get("name") not in (None, "", pod_name):
        raise BadRequest(f"name in URL does not match name in Binding object ({pod_name!r} != {meta.get('name')!r})")
    target = body.get("target")
    if not isinstance(target, dict) or not target.get("name") or not isinstance(target.get("name"), str):
        raise Invalid.for_object("Binding", pod_name, [StatusCause.required("target.name", "the node to bind to")])
    if target.get("kind") not in (None, "", "Node"):
        raise Invalid.for_object("Binding", pod_name, [StatusCause.not_supported("target.kind", target.get("kind"),
                                                                                 ["Node"])])
    uid = meta.get("uid") or ""
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
        raise Invalid.for_object("Binding", pod_name, [StatusCause.invalid(
            "metadata.annotations", "", "annotations must map strings to strings")])
    return target["name"], uid if isinstance(uid, str) else "", annotations


async def bind(service: ResourceService, info: RequestInfo, body: Any) -> bytes:
    """Bind the pod named by the request to the Binding's target node; the Success Status."""
    if info.verb != "create":
        raise MethodNotAllowed("the server does not allow this method on pods/binding: only POST (create)")
    node, uid, annotations = _binding_target(body, info.name)
    return await service.bind(info.namespace, info.name, node, uid, annotations)

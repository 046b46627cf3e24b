"""Per-kind rules for turning a request body into the object that gets stored.

Why separate from the service: these are pure functions of (old, new) objects —
which metadata the server owns, when status is reset or preserved, when
`generation` moves, how a pod's grace period is chosen — and keeping them free
of I/O makes them easy to reason about and to unit-test.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import timedelta
from typing import Any

from apiserver import errors
from kubelite.api import Toleration, defaults, registry, validation
from kubelite.api.errors import StatusCause
from kubelite.api.meta import Resource
from kubelite.api.registry import KindInfo
from kubelite.api.timeutil import format_time, now, utcnow

# Kinds whose status a client may not set on create (controllers and kubelets own it).
_RESET_STATUS_ON_CREATE = {
    "Pod", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "CronJob", "Service", "Namespace",
}
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generateName alphabet: no vowels, no 0/1/3
DEFAULT_POD_GRACE_SECONDS = 30
PROPAGATION_FINALIZERS = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request's JSON object; anything else is a BadRequest."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise errors.bad_request(f"request body must be a JSON object, got {type(body).__name__}")
    return body


def decode_for(info: KindInfo, body: dict[str, Any]) -> Resource:
    """Decode `body` as `info`'s kind; the body's kind must match the request's resource."""
    body.setdefault("apiVersion", info.api_version)
    body.setdefault("kind", info.kind)
    obj = registry.decode(body)
    got = registry.for_model(type(obj))
    if got is not info:
        raise errors.bad_request(
            f"the body is a {got.kind} ({got.api_version}) but the request is for {info.qualified_resource}"
        )
    return obj


def generate_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def check_namespace(info: KindInfo, obj: Resource, request_namespace: str) -> str:
    """Reconcile the request's namespace with the object's; returns the namespace to use ("" if cluster-scoped)."""
    meta = obj.metadata
    if not info.namespaced:
        meta.namespace = None
        return ""
    if meta.namespace and request_namespace and meta.namespace != request_namespace:
        raise errors.bad_request(
            f'the namespace of the provided object ("{meta.namespace}") does not match the namespace '
            f'sent on the request ("{request_namespace}")'
        )
    ns = meta.namespace or request_namespace or "default"
    meta.namespace = ns
    return ns


def check_valid(info: KindInfo, obj: Resource, old: Resource | None = None) -> None:
    """Apply defaults and validate (plus immutability when `old` is given); Invalid names each field."""
    defaults.apply_defaults(obj)
    causes: list[StatusCause] = list(validation.validate(obj))
    if old is not None:
        causes.extend(validation.validate_update(old, obj))
    if causes:
        raise errors.invalid(info.kind, obj.metadata.name, causes)


def prepare_create(info: KindInfo, obj: Resource) -> None:
    """Set the metadata the server owns and reset status where controllers own it."""
    meta = obj.metadata
    meta.uid = str(uuid.uuid4())
    meta.creation_timestamp = now()
    meta.generation = 1
    meta.resource_version = None
    meta.deletion_timestamp = None
    meta.deletion_grace_period_seconds = None
    meta.self_link = None
    meta.managed_fields = []
    if info.kind in _RESET_STATUS_ON_CREATE:
        status = getattr(obj, "status", None)
        if status is not None:
            obj.status = type(status)()  # type: ignore[attr-defined]
    if info.kind == "Namespace":
        obj.status.phase = "Active"  # type: ignore[attr-defined]
    elif info.kind == "Pod":
        obj.status.phase = "Pending"  # type: ignore[attr-defined]


NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def add_default_tolerations(pod: Resource, not_ready_seconds: int, unreachable_seconds: int) -> None:
    """Kubernetes' DefaultTolerationSeconds admission: a pod that says nothing about failed nodes
    tolerates them for a while (so a short network blip evicts nothing), then is evicted."""
    spec = getattr(pod, "spec", None)
    if spec is None or not hasattr(spec, "tolerations"):
        return
    for key, seconds in ((NOT_READY_TAINT, not_ready_seconds), (UNREACHABLE_TAINT, unreachable_seconds)):
        covered = any(
            (t.operator == "Exists" and not t.key) or (t.key == key and t.effect in (None, "", "NoExecute"))
            for t in spec.tolerations
        )
        if not covered:
            spec.tolerations.append(Toleration(key=key, operator="Exists", effect="NoExecute",
                                               toleration_seconds=seconds))


def _spec_content(d: dict[str, Any]) -> dict[str, Any]:
    """Everything except metadata and status: what `generation` tracks."""
    return {k: v for k, v in d.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def prepare_update(info: KindInfo, old: Resource, new: Resource) -> None:
    """Carry over what a spec+metadata update may not change; bump generation when the spec changed."""
    _keep_system_metadata(old, new)
    if hasattr(old, "status"):
        new.status = old.status.model_copy(deep=True)  # type: ignore[attr-defined]
    check_valid(info, new, old)
    if _spec_content(old.to_dict()) != _spec_content(new.to_dict()):
        new.metadata.generation = (old.metadata.generation or 1) + 1
    if old.metadata.deletion_timestamp:
        added = set(new.metadata.finalizers) - set(old.metadata.finalizers)
        if added:
            raise errors.invalid(info.kind, new.metadata.name, [StatusCause.forbidden(
                "metadata.finalizers", f"no new finalizers can be added if the object is being deleted, found new "
                f"finalizers {sorted(added)}")])


def prepare_status_update(info: KindInfo, old: Resource, new: Resource) -> Resource:
    """The stored object with only its status replaced by the request's."""
    if not hasattr(old, "status"):
        raise errors.bad_request(f"{info.qualified_resource} have no status subresource")
    result = old.model_copy(deep=True)
    result.status = new.status  # type: ignore[attr-defined]
    result.metadata.resource_version = None
    check_valid(info, result, old)
    return result


def _keep_system_metadata(old: Resource, new: Resource) -> None:
    o, n = old.metadata, new.metadata
    n.uid = o.uid
    n.creation_timestamp = o.creation_timestamp
    n.deletion_timestamp = o.deletion_timestamp
    n.deletion_grace_period_seconds = o.deletion_grace_period_seconds
    n.generation = o.generation
    n.generate_name = o.generate_name
    n.resource_version = None
    n.self_link = None
    n.managed_fields = []


def ready_to_remove(obj: Resource) -> bool:
    """A deleting object with no finalizers and no grace left is removed rather than written."""
    meta = obj.metadata
    return bool(meta.deletion_timestamp) and not meta.finalizers and not meta.deletion_grace_period_seconds


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal ignoring resourceVersion (an update that changes nothing is not written)."""
    ma = {k: v for k, v in a.get("metadata", {}).items() if k != "resourceVersion"}
    mb = {k: v for k, v in b.get("metadata", {}).items() if k != "resourceVersion"}
    return ma == mb and {k: v for k, v in a.items() if k != "metadata"} == {
        k: v for k, v in b.items() if k != "metadata"
    }


def deletion_grace(info: KindInfo, obj: Resource, requested: int | None) -> int:
    """Seconds of graceful termination for a delete of `obj` (0 = remove now).

    Only pods bound to a node are deleted gracefully (the kubelet stops their
    containers and then deletes with grace 0); an unbound or finished pod has
    nothing to stop.
    """
    if requested is not None and requested < 0:
        raise errors.bad_request("gracePeriodSeconds must not be negative")
    if info.kind != "Pod":
        return 0
    spec = obj.spec  # type: ignore[attr-defined]
    phase = obj.status.phase  # type: ignore[attr-defined]
    if not spec.node_name or phase in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return requested
    grace = spec.termination_grace_period_seconds
    return DEFAULT_POD_GRACE_SECONDS if grace is None else int(grace)


def deletion_time(grace: int) -> str:
    return format_time(utcnow() + timedelta(seconds=grace))


def mark_deleting(obj: Resource, grace: int, policy: str) -> bool:
    """Set deletionTimestamp/grace (and the propagation finalizer); True if anything changed.

    A repeated delete may shorten a pending grace period but never extend it.
    """
    meta = obj.metadata
    changed = False
    finalizer = PROPAGATION_FINALIZERS.get(policy)
    if finalizer and finalizer not in meta.finalizers and not meta.deletion_timestamp:
        meta.finalizers.append(finalizer)
        changed = True
    if meta.deletion_timestamp is None:
        meta.deletion_timestamp = deletion_time(grace)
        meta.deletion_grace_period_seconds = grace
        return True
    current = meta.deletion_grace_period_seconds
    if current is None or grace < current:
        meta.deletion_timestamp = deletion_time(grace)
        meta.deletion_grace_period_seconds = grace
        changed = True
    return changed


def check_preconditions(info: KindInfo, obj: Resource, uid: str, resource_version: str) -> None:
    meta = obj.metadata
    name = meta.name or ""
    if uid and uid != meta.uid:
        raise errors.conflict(info.resource, name, f"Precondition failed: UID in precondition: {uid}, "
                              f"UID in object meta: {meta.uid}")
    if resource_version and resource_version != meta.resource_version:
        raise errors.conflict(info.resource, name, f"Precondition failed: ResourceVersion in precondition: "
                              f"{resource_version}, ResourceVersion in object meta: {meta.resource_version}")


def validate_propagation(policy: str) -> str:
    if policy not in ("", "Background", "Foreground", "Orphan"):
        raise errors.bad_request(
            f'invalid propagationPolicy "{policy}": must be one of "Background", "Foreground", "Orphan"'
        )
    return policy


def bind(pod: Resource, node_name: str, pod_uid: str) -> None:
    """Set spec.nodeName and the PodScheduled=True condition; Conflict if bound elsewhere."""
    from kubelite.api.pods import PodCondition

    meta = pod.metadata
    name = meta.name or ""
    if pod_uid and pod_uid != meta.uid:
        raise errors.conflict("pods", name, f"Precondition failed: UID in precondition: {pod_uid}, "
                              f"UID in object meta: {meta.uid}")
    if meta.deletion_timestamp:
        raise errors.conflict("pods", name, f"pod {name} is being deleted, cannot be assigned to a host")
    spec = pod.spec  # type: ignore[attr-defined]
    if spec.node_name and spec.node_name != node_name:
        raise errors.conflict("pods", name, f'pod {name} is already assigned to node "{spec.node_name}"')
    if spec.node_name == node_name:
        return
    spec.node_name = node_name
    conditions = pod.status.conditions  # type: ignore[attr-defined]
    scheduled = PodCondition(type="PodScheduled", status="True", last_transition_time=now())
    for i, cond in enumerate(conditions):
        if cond.type == "PodScheduled":
            if cond.status == "True":
                scheduled = cond
            conditions[i] = scheduled
            break
    else:
        conditions.append(scheduled)

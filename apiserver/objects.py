"""Kind-independent rules for turning a request body into the object that gets stored.

Why separate from the service: these are pure functions of objects -- decoding
a body for a kind, which metadata the server owns, how a delete is marked,
when an update changes nothing -- and keeping them free of I/O makes them easy
to reason about and to unit-test. What differs per kind lives in `strategy`.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from apiserver.fieldvalidation import field_policy
from apiserver.storage import MAX_OBJECT_BYTES, ObjectTooLarge
from kubelite.api import defaults, hpaconvert, limits, registry, validation
from kubelite.api.errors import BadRequest, Conflict, Invalid, StatusCause
from kubelite.api.meta import Resource
from kubelite.api.registry import KindInfo
from kubelite.api.timeutil import format_time, now, utcnow
from kubelite.wire import jsoncodec

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generateName alphabet: no vowels, no 0/1/3
PROPAGATION_FINALIZERS = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request's JSON object; anything else is a BadRequest."""
    try:
        body = jsoncodec.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("request body is not valid JSON: it is nested too deeply") from None
    too_deep = limits.shape_error(body)  # first: orjson parses arrays deeper than json would
    if too_deep:
        raise BadRequest(f"request body is not a valid object: {too_deep}")
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, got {type(body).__name__}")
    return body


def decode_for(info: KindInfo, body: dict[str, Any]) -> Resource:
    """Decode `body` as `info`'s kind; the body's kind must match the request's resource."""
    body.setdefault("apiVersion", info.api_version)
    body.setdefault("kind", info.kind)
    if hpaconvert.is_v1(body):  # before unknown fields are judged: v1's fields are known at v1
        body = hpaconvert.to_v2(body)
    policy = field_policy.get()
    if policy is not None:  # fieldValidation=Warn|Ignore: drop what the kind does not have
        policy.drop_unknown(info, body)
    obj = registry.decode(body)
    got = registry.for_model(type(obj))
    if (got.api_version, got.kind) != (info.api_version, info.kind):
        raise BadRequest(
            f"the body is a {got.kind} ({got.api_version}) but the request is for {info.qualified_resource}"
        )
    return obj


@contextlib.contextmanager
def stored_size_checked(info: KindInfo, name: str) -> Iterator[None]:
    """Turn the store's size refusal into a 422 naming the object (not a 500)."""
    try:
        yield
    except ObjectTooLarge as exc:
        raise Invalid.for_object(info.kind, name, [StatusCause(
            "", f"Too long: the stored object must have at most {MAX_OBJECT_BYTES} bytes, it has {exc.size}",
        )]) from None


def generate_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def check_namespace(info: KindInfo, obj: Resource, request_namespace: str) -> str:
    """Reconcile the request's namespace with the object's; returns the namespace to use ("" if cluster-scoped)."""
    meta = obj.metadata
    if not info.namespaced:
        meta.namespace = None
        return ""
    if meta.namespace and request_namespace and meta.namespace != request_namespace:
        raise BadRequest(
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
        raise Invalid.for_object(info.kind, obj.metadata.name, causes)


def set_create_metadata(obj: Resource) -> None:
    """Set the metadata the server owns on a new object (the kind's strategy does the rest)."""
    meta = obj.metadata
    meta.uid = str(uuid.uuid4())
    meta.creation_timestamp = now()
    meta.generation = 1
    meta.resource_version = None
    meta.deletion_timestamp = None
    meta.deletion_grace_period_seconds = None
    meta.self_link = None
    meta.managed_fields = []


def spec_content(d: dict[str, Any]) -> dict[str, Any]:
    """Everything except metadata and status: what `generation` tracks."""
    return {k: v for k, v in d.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def keep_system_metadata(old: Resource, new: Resource) -> None:
    """Keep what only the server changes (uid, timestamps, generation) from the stored object."""
    o, n = old.metadata, new.metadata
    n.uid = o.uid
    n.creation_timestamp = o.creation_timestamp
    n.deletion_timestamp = o.deletion_timestamp
    n.deletion_grace_period_seconds = o.deletion_grace_period_seconds
    n.generation = o.generation
    n.generate_name = o.generate_name
    n.resource_version = None
    n.self_link = None
    # managedFields stay as sent: a client may rewrite ownership (kubectl does when it moves an
    # object from client-side to server-side apply); `apply.manager.stamp` decides what is stored.


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
        raise Conflict.for_object(info.resource, name, f"Precondition failed: UID in precondition: {uid}, "
                              f"UID in object meta: {meta.uid}")
    if resource_version and resource_version != meta.resource_version:
        raise Conflict.for_object(info.resource, name, f"Precondition failed: ResourceVersion in precondition: "
                              f"{resource_version}, ResourceVersion in object meta: {meta.resource_version}")


def validate_propagation(policy: str) -> str:
    if policy not in ("", "Background", "Foreground", "Orphan"):
        raise BadRequest(
            f'invalid propagationPolicy "{policy}": must be one of "Background", "Foreground", "Orphan"'
        )
    return policy

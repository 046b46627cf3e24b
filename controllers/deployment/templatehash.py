"""Pure Deployment arithmetic: template hash, surge/unavailable, annotations, status.

Why separate from the controller: these are the rules users see ("maxSurge
25% of 10 is 3, maxUnavailable 25% of 10 is 2", "the RS is called
web-<hash>"), they must be exact, and they are easiest to pin down with unit
tests that do no I/O.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from kubelite.api import Deployment, PodTemplateSpec, ReplicaSet
from kubelite.api.podutil import creation_time

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
# Annotations of the Deployment that must not be copied onto its ReplicaSets.
_SKIP_COPY_ANNOTATIONS = {
    REVISION_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision-history",
}

DEFAULT_MAX_SURGE: int | str = "25%"
DEFAULT_MAX_UNAVAILABLE: int | str = "25%"
DEFAULT_REVISION_HISTORY_LIMIT = 10

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # no vowels (no words), no 0/1/3 look-alikes
HASH_LENGTH = 10

# --- template hash -------------------------------------------------------------------------------


def template_without_hash(template: PodTemplateSpec) -> dict[str, Any]:
    """The template as canonical JSON data, minus the pod-template-hash label."""
    data = template.to_dict()
    labels = dict(data.get("metadata", {}).get("labels", {}))
    if POD_TEMPLATE_HASH_LABEL in labels:
        labels.pop(POD_TEMPLATE_HASH_LABEL)
        meta = dict(data["metadata"])
        if labels:
            meta["labels"] = labels
        else:
            meta.pop("labels")
        data["metadata"] = meta
        if not meta:
            data.pop("metadata")
    return data


def compute_template_hash(template: PodTemplateSpec, collision_count: int | None = None) -> str:
    """A short, DNS-label-safe, stable hash of the pod template.

    Stable across processes and versions (sha256 of sorted-key JSON, never
    Python's randomised hash()); `collision_count` is mixed in so a name
    collision with a foreign ReplicaSet yields a fresh name.
    """
    canonical = json.dumps(template_without_hash(template), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode())
    if collision_count is not None:
        digest.update(f"/collision={collision_count}".encode())
    number = int.from_bytes(digest.digest()[:8], "big")
    out = []
    for _ in range(HASH_LENGTH):
        number, idx = divmod(number, len(_SAFE_ALPHABET))
        out.append(_SAFE_ALPHABET[idx])
    return "".join(out)


def templates_equal_ignoring_hash(a: PodTemplateSpec, b: PodTemplateSpec) -> bool:
    return template_without_hash(a) == template_without_hash(b)


# --- maxSurge / maxUnavailable ---------------------------------------------------------------------

_PERCENT = re.compile(r"^\s*(\d+)\s*%\s*$")


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """Resolve an int-or-percent against `total` ("25%" of 10 is 3 rounding up, 2 down).

    Raises ValueError on anything else ("abc", "-1%"), which validation should
    have rejected already.
    """
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    match = _PERCENT.match(text)
    if not match:
        raise ValueError(f"invalid int-or-percent value {value!r}")
    exact = int(match.group(1)) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """(surge, unavailable) for `desired` replicas: surge rounds up, unavailable down.

    Both zero would deadlock a rollout (nothing may be added or removed), so
    unavailable becomes 1 then, as in Kubernetes.
    """
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def desired_replicas(d: Deployment) -> int:
    return 1 if d.spec.replicas is None else d.spec.replicas


def is_rolling(d: Deployment) -> bool:
    strategy = d.spec.strategy
    return strategy is None or (strategy.type or "RollingUpdate") == "RollingUpdate"


def _surge_unavailable_params(d: Deployment) -> tuple[int | str | None, int | str | None]:
    strategy = d.spec.strategy
    ru = strategy.rolling_update if strategy is not None else None
    if ru is None:
        return DEFAULT_MAX_SURGE, DEFAULT_MAX_UNAVAILABLE
    surge = DEFAULT_MAX_SURGE if ru.max_surge is None else ru.max_surge
    unavailable = DEFAULT_MAX_UNAVAILABLE if ru.max_unavailable is None else ru.max_unavailable
    return surge, unavailable


def max_surge(d: Deployment) -> int:
    """Pods allowed above spec.replicas during a rolling update (0 for Recreate)."""
    if not is_rolling(d):
        return 0
    surge, unavailable = _surge_unavailable_params(d)
    return resolve_fenceposts(surge, unavailable, desired_replicas(d))[0]


def max_unavailable(d: Deployment) -> int:
    """Pods allowed below spec.replicas during a rolling update (0 for Recreate), capped at replicas."""
    replicas = desired_replicas(d)
    if not is_rolling(d) or replicas == 0:
        return 0
    surge, unavailable = _surge_unavailable_params(d)
    return min(resolve_fenceposts(surge, unavailable, replicas)[1], replicas)


# --- replica set bookkeeping ---------------------------------------------------------------------


def name_of(rs: ReplicaSet) -> str:
    return rs.metadata.name or ""


def rs_replicas(rs: ReplicaSet) -> int:
    return 1 if rs.spec.replicas is None else rs.spec.replicas


def sum_spec_replicas(rss: Iterable[ReplicaSet | None]) -> int:
    return sum(rs_replicas(rs) for rs in rss if rs is not None)


def sum_status(rss: Iterable[ReplicaSet | None], attr: str) -> int:
    return sum(int(getattr(rs.status, attr) or 0) for rs in rss if rs is not None)


def revision_of(rs: ReplicaSet) -> int:
    try:
        return int(rs.metadata.annotations.get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def max_revision(rss: Iterable[ReplicaSet]) -> int:
    return max((revision_of(rs) for rs in rss), default=0)


def int_annotation(rs: ReplicaSet, name: str) -> int | None:
    text = rs.metadata.annotations.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def replicas_annotations(d: Deployment) -> dict[str, str]:
    """What a ReplicaSet carries so a later scale event can be told apart from a rollout."""
    replicas = desired_replicas(d)
    return {
        DESIRED_REPLICAS_ANNOTATION: str(replicas),
        MAX_REPLICAS_ANNOTATION: str(replicas + max_surge(d)),
    }


def copied_annotations(d: Deployment) -> dict[str, str]:
    return {k: v for k, v in d.metadata.annotations.items() if k not in _SKIP_COPY_ANNOTATIONS}


def oldest_first(rss: Iterable[ReplicaSet]) -> list[ReplicaSet]:
    return sorted(rss, key=lambda rs: (creation_time(rs.metadata), name_of(rs)))


def find_new_replica_set(d: Deployment, rss: Sequence[ReplicaSet], current_hash: str) -> ReplicaSet | None:
    """The ReplicaSet running the Deployment's current template, if it exists.

    An RS matches when its template equals the Deployment's (ignoring the hash
    label), or when it carries the hash label we would give it now. The second
    rule keeps us from fighting a server that defaults RS templates slightly
    differently from Deployment templates. Oldest wins if several match.
    """
    for rs in oldest_first(rss):
        if rs.spec.template.metadata.labels.get(POD_TEMPLATE_HASH_LABEL) == current_hash:
            return rs
        if templates_equal_ignoring_hash(rs.spec.template, d.spec.template):
            return rs
    return None


def active_replica_sets(rss: Iterable[ReplicaSet | None]) -> list[ReplicaSet]:
    return [rs for rs in rss if rs is not None and rs_replicas(rs) > 0]


def is_scaling_event(d: Deployment, rss: Iterable[ReplicaSet | None]) -> bool:
    """Only spec.replicas changed: an active RS remembers a different desired count."""
    replicas = desired_replicas(d)
    for rs in active_replica_sets(rss):
        desired = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
        if desired is not None and desired != replicas:
            return True
    return False

"""Adoption and release of dependents by label selector (Kubernetes' ControllerRefManager).

Why: selectors and ownerReferences can disagree. A pod created by hand with
matching labels should be adopted (otherwise the ReplicaSet would create one
too many); a pod relabelled out of the selector must be released (so the
ReplicaSet replaces it and stops counting it). The decision is pure; the
controller performs the resulting writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kubelite.api import Resource

T = TypeVar("T", bound=Resource)


@dataclass
class Claims(Generic[T]):
    """How an owner relates to the candidate dependents it looked at."""

    owned: list[T] = field(default_factory=list)
    """Controlled by the owner and matching its selector: counted as its own."""
    adopt: list[T] = field(default_factory=list)
    """Orphans matching the selector: to be given a controller ownerReference."""
    release: list[T] = field(default_factory=list)
    """Controlled by the owner but no longer matching: the ownerReference is to be removed."""


def classify(
    owner_uid: str,
    owner_deleting: bool,
    matches: Callable[[dict[str, str]], bool],
    candidates: Sequence[T],
) -> Claims[T]:
    """Split `candidates` into owned / to adopt / to release; others' dependents are ignored.

    An owner being deleted neither adopts nor releases (its dependents are
    about to be garbage-collected), and terminating orphans are not adopted.
    """
    claims: Claims[T] = Claims()
    for obj in candidates:
        ref = obj.metadata.controller_ref()
        labels_match = matches(obj.metadata.labels)
        if ref is not None:
            if ref.uid != owner_uid:
                continue
            if labels_match:
                claims.owned.append(obj)
            elif not owner_deleting:
                claims.release.append(obj)
            continue
        if owner_deleting or not labels_match or obj.metadata.deletion_timestamp is not None:
            continue
        claims.adopt.append(obj)
    return claims

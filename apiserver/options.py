"""The typed requests and results of the apiserver core (`ResourceService`).

Why plain dataclasses: the core must not know how a request arrived. The gRPC
adapter (and a REST adapter later) turn their wire messages into these and the
results back; objects stay Kubernetes JSON bytes on both sides, so the core
decodes a body once and a stored object is never re-encoded to be answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

_Encoded = TypeVar("_Encoded")


@dataclass(frozen=True, slots=True)
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0  # 0 = everything
    continue_token: str = ""


@dataclass(frozen=True, slots=True)
class ObjectList:
    """A List answer: object JSONs, the revision they reflect, and the token of the next page ("" = last)."""

    items: list[bytes] = field(default_factory=list)
    resource_version: str = ""
    continue_token: str = ""


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    grace_period_seconds: int | None = None  # None = the kind's default
    propagation_policy: str = ""
    precondition_uid: str = ""
    precondition_resource_version: str = ""
    dry_run: bool = False  # dryRun=All: decide and answer as the delete would, store nothing


@dataclass(frozen=True, slots=True)
class WatchOptions:
    label_selector: str = ""
    field_selector: str = ""
    resource_version: str = ""  # "" = from now (fresh), "0" = from the cache's state, else resume after it
    allow_bookmarks: bool = False


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One event of a watch. The watch cache hands the same instance to every watcher that sees
    the event the same way, so a wire encoding made through `encoded` is made once per event and
    format, not once per watcher (1,000 watchers of a resource: one encode, 1,000 sends)."""

    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
    object: bytes
    _encodings: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def encoded(self, form: Any, encode: Callable[[WatchEvent], _Encoded]) -> _Encoded:
        """`encode(self)`, computed on the first call for `form` and shared by later callers.
        `form` must name everything the encoding depends on besides the event."""
        found = self._encodings.get(form)
        if found is None:
            found = self._encodings[form] = encode(self)
        return cast(_Encoded, found)

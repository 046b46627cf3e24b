"""Who is writing: the field manager of a request, and stamping `managedFields` on a write.

Why a context variable (like `access.current_user`): the manager is a property of the
request (the `fieldManager` query parameter, else the client's User-Agent), known to the
HTTP and gRPC adapters, while the object to stamp only exists deep inside the typed core's
compare-and-swap loop. The adapters set it once per request; the core calls `stamp` on
every object it writes, so every transport records ownership the same way.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from apiserver.apply.merge import UPDATE, Entry, prune, raw_entries, record_update, write_entries
from kubelite.api.errors import BadRequest
from kubelite.api.timeutil import now

MAX_MANAGER_LENGTH = 128  # Kubernetes' limit on fieldManager


@dataclass(slots=True)
class WriteManager:
    """The manager of the current write; `applied` holds an apply's computed entries."""

    name: str
    operation: str = UPDATE
    subresource: str = ""
    applied: list[Entry] | None = None


field_manager: contextvars.ContextVar[WriteManager | None] = contextvars.ContextVar(
    "kubelite_field_manager", default=None)


@contextmanager
def writing_as(manager: WriteManager | None) -> Iterator[WriteManager | None]:
    token = field_manager.set(manager)
    try:
        yield manager
    finally:
        field_manager.reset(token)


def check_manager(name: str) -> str:
    """A `fieldManager` value as Kubernetes accepts it: at most 128 printable characters."""
    if len(name) > MAX_MANAGER_LENGTH:
        raise BadRequest(f"fieldManager: Too long: must have at most {MAX_MANAGER_LENGTH} characters")
    if not name.isprintable():
        raise BadRequest(f"fieldManager: Invalid value: {name!r}: must only contain printable characters")
    return name


def from_user_agent(user_agent: str, fallback: str = "unknown") -> str:
    """The default manager: the User-Agent up to its first "/" (`kubectl/v1.32 (linux)` -> `kubectl`)."""
    name = user_agent.split("/", 1)[0].strip()
    return (name or fallback)[:MAX_MANAGER_LENGTH]


def stamp(api_version: str, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Set `new`'s `metadata.managedFields` for the write replacing `old` (None: a create).

    Ownership starts from `old`'s, or from the `managedFields` the client sent when they differ
    (`[{}]` clears them). Without a manager in context (a write made by the apiserver itself)
    that is what is stored.
    """
    writer = field_manager.get()
    base = raw_entries(old)
    sent = raw_entries(new)
    if ((new.get("metadata") or {}).get("managedFields") or sent) and sent != base:
        base = sent  # the client rewrote ownership (like Kubernetes: non-empty and changed wins)
    if writer is not None and writer.applied is not None:
        entries = write_entries(prune(writer.applied, new))
    elif writer is not None:
        entries = record_update(old, new, writer.name, api_version, now(), writer.subresource, base)
    else:
        entries = base
    meta = new.setdefault("metadata", {})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)
    return new

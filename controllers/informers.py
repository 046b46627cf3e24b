"""One shared informer per kind for every controller in the process.

Why shared: the ReplicaSet controller, the Deployment controller and the
garbage collector all watch pods; three watches and three caches of the same
pods would triple the apiserver's load and let the controllers disagree about
what exists. Every informer gets the same two indexes (namespace, owner uid)
so controllers can ask "pods in ns X" and "dependents of uid U" cheaply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, TypeVar, cast

from kubelite.api import Resource
from kubelite.client import ApiClient, Informer

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Resource)

NAMESPACE_INDEX = "namespace"
OWNER_UID_INDEX = "owner-uid"


def namespace_index(obj: Resource) -> list[str]:
    return [obj.metadata.namespace or ""]


def owner_uid_index(obj: Resource) -> list[str]:
    return [ref.uid for ref in obj.metadata.owner_references if ref.uid]


class InformerFactory:
    """Creates informers on first request; `start()` runs them all, `stop()` cancels them."""

    def __init__(self, client: ApiClient, resync_seconds: float = 0) -> None:
        self.client = client
        self.resync_seconds = resync_seconds
        self._informers: dict[type[Resource], Informer[Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def informer(self, cls: type[T]) -> Informer[T]:
        """The informer of `cls`; must be requested before `start()` to be run."""
        existing = self._informers.get(cls)
        if existing is not None:
            return cast(Informer[T], existing)
        if self._tasks:
            raise RuntimeError(f"informer for {cls.__name__} requested after the factory started")
        inf: Informer[T] = Informer(self.client, cls, resync_seconds=self.resync_seconds)
        inf.add_index(NAMESPACE_INDEX, namespace_index)
        inf.add_index(OWNER_UID_INDEX, owner_uid_index)
        self._informers[cls] = inf
        return inf

    def informers(self) -> list[Informer[Any]]:
        return list(self._informers.values())

    def start(self) -> None:
        """Run every informer in the background (each reconnects forever on its own)."""
        for cls, inf in self._informers.items():
            self._tasks.append(asyncio.create_task(inf.run(), name=f"informer-{cls.__name__}"))

    @property
    def has_synced(self) -> bool:
        return all(inf.has_synced for inf in self._informers.values())

    def not_synced(self) -> list[str]:
        return [cls.__name__ for cls, inf in self._informers.items() if not inf.has_synced]

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.wait_synced() for inf in self._informers.values()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

"""What every controller shares: a work queue of keys, workers, graceful stop.

Why a base class: the loop "handlers enqueue keys -> N workers reconcile ->
errors and Conflicts requeue with back-off" is the same for every controller;
only `reconcile(key)` differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import TypeVar

from controllers.informers import NAMESPACE_INDEX
from kubelite.api import Deployment, OwnerReference, ReplicaSet, Resource, object_key
from kubelite.api.errors import BadRequest, NotFound, ServiceUnavailable, Timeout
from kubelite.api.selectors import LabelMatcher, label_matcher
from kubelite.client import ApiClient, Store, WorkQueue, run_workers
from kubelite.daemon import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Resource)
R = TypeVar("R", bound=Resource)

Workload = TypeVar("Workload", Deployment, ReplicaSet)


def selector_of(owner: Deployment | ReplicaSet) -> LabelMatcher | None:
    """The owner's selector; None (select nothing) when missing, empty or malformed.

    An empty selector would claim every object of the namespace, so it is refused
    even though validation should have caught it.
    """
    sel = owner.spec.selector
    if sel is None or (not sel.match_labels and not sel.match_expressions):
        return None
    try:
        return label_matcher(sel)
    except BadRequest:
        return None


def controller_owner(obj: Resource, owners: Store[Workload], kind: str) -> Workload | None:
    """The cached controller of `obj` (name and uid must both match), if it is of `kind`."""
    ref = obj.metadata.controller_ref()
    if ref is None or ref.kind != kind:
        return None
    owner = owners.get(f"{obj.metadata.namespace}/{ref.name}")
    return owner if owner is not None and owner.metadata.uid == ref.uid else None


def matching_owners(obj: Resource, owners: Store[Workload]) -> list[Workload]:
    """Cached owners in `obj`'s namespace whose selector matches its labels (adoption candidates)."""
    out = []
    for owner in owners.by_index(NAMESPACE_INDEX, obj.metadata.namespace or ""):
        matcher = selector_of(owner)
        if matcher is not None and matcher.matches(obj.metadata.labels):
            out.append(owner)
    return out


MAX_REQUEUE_DELAY = 30.0
"""Cap on a failing key's back-off: after an apiserver outage every key is
retried within this bound even if it failed many times meanwhile."""
TRANSIENT_BASE_DELAY = 0.1


class Controller(ABC):
    """A named queue of keys reconciled by `workers` concurrent workers."""

    name = "controller"

    def __init__(self, workers: int = 2, metrics: Metrics | None = None) -> None:
        self.workers = workers
        self.metrics = metrics or Metrics()
        self.queue = WorkQueue(self.name, max_delay=MAX_REQUEUE_DELAY)
        self._task: asyncio.Task[None] | None = None
        self._unavailable: dict[str, int] = {}

    def enqueue(self, obj: Resource) -> None:
        self.queue.add(object_key(obj))

    def enqueue_key(self, key: str) -> None:
        self.queue.add(key)

    @abstractmethod
    async def reconcile(self, key: str) -> None:
        """Bring the object at `key` to its desired state; raise to retry later."""

    async def _counted_reconcile(self, key: str) -> None:
        self.metrics.inc("controller_reconcile_total", help_text="reconciles started", controller=self.name)
        try:
            await self.reconcile(key)
        except (ServiceUnavailable, Timeout) as exc:
            # The apiserver is restarting or overloaded: expected, so a warning without a
            # traceback, and an own back-off (the queue's resets when we return normally).
            failures = self._unavailable.get(key, 0)
            self._unavailable[key] = failures + 1
            delay = min(TRANSIENT_BASE_DELAY * 2 ** min(failures, 16), MAX_REQUEUE_DELAY)
            self.metrics.inc("controller_reconcile_errors_total", help_text="reconciles that failed (requeued)",
                             controller=self.name)
            log.warning("apiserver unavailable; will retry",
                        extra={"controller": self.name, "key": key, "retry_in": delay, "error": str(exc)})
            self.queue.add_after(key, delay)
        except Exception:
            self.metrics.inc("controller_reconcile_errors_total", help_text="reconciles that failed (requeued)",
                             controller=self.name)
            raise
        else:
            self._unavailable.pop(key, None)

    def start(self) -> None:
        """Start the workers (call after the informers synced, never before)."""
        self._task = asyncio.create_task(run_workers(self.queue, self._counted_reconcile, self.workers),
                                         name=f"workers-{self.name}")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking keys, let in-flight reconciles finish (up to `timeout`), then cancel."""
        self.queue.shutdown()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            log.warning("workers did not finish in time; cancelling", extra={"controller": self.name})
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        except Exception:
            log.exception("workers failed", extra={"controller": self.name})


async def adopt(client: ApiClient, obj: T, ref: OwnerReference) -> T | None:
    """Make `ref` the controller of `obj` (compare-and-swap on the cached version).

    None when the object is gone; Conflict propagates so the caller requeues
    and decides again on fresher data.
    """
    copy = obj.copy_deep()
    if any(r.uid == ref.uid for r in copy.metadata.owner_references):
        return copy
    copy.metadata.owner_references.append(ref)
    try:
        return await client.update(copy)
    except NotFound:
        return None


async def release(client: ApiClient, obj: T, owner_uid: str) -> T | None:
    """Remove the owner reference to `owner_uid` from `obj` (None when the object is gone)."""
    copy = obj.copy_deep()
    copy.metadata.owner_references = [r for r in copy.metadata.owner_references if r.uid != owner_uid]
    try:
        return await client.update(copy)
    except NotFound:
        return None


async def can_adopt(client: ApiClient, owner: R) -> bool:
    """Re-read the owner live before adopting anything (Kubernetes does the same).

    Why: the cached owner may already be deleted and replaced by a new object
    with the same name; adopting for a dead uid would hand orphans straight to
    the garbage collector.
    """
    try:
        fresh = await client.get(type(owner), owner.metadata.name or "", owner.metadata.namespace or "default")
    except NotFound:
        return False
    return fresh.metadata.uid == owner.metadata.uid and fresh.metadata.deletion_timestamp is None

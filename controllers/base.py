"""What every controller shares: its context, a work queue of keys, workers, graceful stop.

Why a base class: the loop "handlers enqueue keys -> N workers reconcile ->
errors and Conflicts requeue with back-off" is the same for every controller;
only `reconcile(key)` differs. The back-off is the work queue's (one per key,
reset by a success), never a second one here.

Why a context object: every controller needs the same handful of process-wide
things (API client, shared informers, event recorder, worker count, metrics,
clock); passing them as one `ControllerContext` keeps eleven constructors from
repeating the same six parameters and lets a test swap the clock in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from controllers.claim import classify
from controllers.informers import NAMESPACE_INDEX, InformerFactory
from controllers.podutil import make_controller_ref
from kubelite.api import LabelSelector, OwnerReference, Resource, object_key
from kubelite.api.errors import BadRequest, NotFound
from kubelite.api.selectors import LabelMatcher, label_matcher
from kubelite.api.timeutil import utcnow
from kubelite.client import ApiClient, EventRecorder, Store, WorkQueue, run_workers
from kubelite.daemon import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Resource)
R = TypeVar("R", bound=Resource)
OwnerT = TypeVar("OwnerT", bound=Resource)

Clock = Callable[[], datetime]

BASE_REQUEUE_DELAY = 0.005
"""A failing key's first retry: the work queue's default."""
MAX_REQUEUE_DELAY = 30.0
"""Cap on a failing key's back-off: after an apiserver outage every key is
retried within this bound even if it failed many times meanwhile."""


@dataclass
class ControllerContext:
    """What a controller gets from the process that runs it.

    `recorder` None lets each controller make its own ("<name>-controller");
    `clock` is the wall clock of status timestamps and time-based decisions.
    """

    client: ApiClient
    factory: InformerFactory
    recorder: EventRecorder | None = None
    workers: int = 2
    metrics: Metrics = field(default_factory=Metrics)
    clock: Clock = utcnow


class Controller(ABC):
    """A named queue of keys reconciled by `workers` concurrent workers.

    `single_worker` controllers (node IPAM, node lifecycle: serial by design,
    they always ran one worker) ignore the context's worker count.
    """

    name = "controller"
    single_worker = False

    def __init__(self, ctx: ControllerContext, base_delay: float = BASE_REQUEUE_DELAY,
                 max_delay: float = MAX_REQUEUE_DELAY) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.workers = 1 if self.single_worker else ctx.workers
        self.metrics = ctx.metrics
        self.queue = WorkQueue(self.name, base_delay=base_delay, max_delay=max_delay)
        self._task: asyncio.Task[None] | None = None

    def own_recorder(self) -> EventRecorder:
        """The context's recorder, or one of this controller's own."""
        return self.ctx.recorder or EventRecorder(self.client, f"{self.name}-controller")

    def enqueue(self, obj: Resource) -> None:
        self.queue.add(object_key(obj))

    def enqueue_key(self, key: str) -> None:
        self.queue.add(key)

    @abstractmethod
    async def reconcile(self, key: str) -> None:
        """Bring the object at `key` to its desired state; raise to retry later."""

    async def _counted_reconcile(self, key: str) -> None:
        """Count reconciles and failures; retrying (and its back-off) is `run_workers`' job."""
        self.metrics.inc("controller_reconcile_total", help_text="reconciles started", controller=self.name)
        try:
            await self.reconcile(key)
        except Exception:
            self.metrics.inc("controller_reconcile_errors_total", help_text="reconciles that failed (requeued)",
                             controller=self.name)
            raise

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


# ---------------------------------------------------------------------- owners and selectors


def selector_matcher(sel: LabelSelector | None) -> LabelMatcher | None:
    """The matcher of a workload selector; None (select nothing) when missing, empty or malformed.

    An empty selector would claim every object of the namespace, so it is refused
    even though validation should have caught it.
    """
    if sel is None or (not sel.match_labels and not sel.match_expressions):
        return None
    try:
        return label_matcher(sel)
    except BadRequest:
        return None


def controlled_by(obj: Resource, owners: Store[OwnerT], kind: str) -> OwnerT | None:
    """The cached controller of `obj` of `kind` (name and uid must both match)."""
    ref = obj.metadata.controller_ref()
    if ref is None or ref.kind != kind:
        return None
    owner = owners.get(f"{obj.metadata.namespace}/{ref.name}")
    return owner if owner is not None and owner.metadata.uid == ref.uid else None


def matching_owners(obj: Resource, owners: Store[OwnerT],
                    selector: Callable[[OwnerT], LabelMatcher | None]) -> list[OwnerT]:
    """Cached owners in `obj`'s namespace whose selector matches its labels (adoption candidates)."""
    out = []
    for owner in owners.by_index(NAMESPACE_INDEX, obj.metadata.namespace or ""):
        matcher = selector(owner)
        if matcher is not None and matcher.matches(obj.metadata.labels):
            out.append(owner)
    return out


async def claim(client: ApiClient, owner: Resource, api_version: str, kind: str, matcher: LabelMatcher,
                candidates: Sequence[T]) -> list[T]:
    """The candidates `owner` controls after adopting matching orphans and releasing non-matching ones.

    Why one function: ReplicaSets claim pods and Deployments claim ReplicaSets
    by the same rules (Kubernetes' ControllerRefManager); adoption re-reads the
    owner live first (`can_adopt`).
    """
    uid = owner.metadata.uid or ""
    claims = classify(uid, owner.metadata.deletion_timestamp is not None, matcher.matches, candidates)
    owned = list(claims.owned)
    if claims.adopt and await can_adopt(client, owner):
        ref = make_controller_ref(owner, api_version, kind)
        for obj in claims.adopt:
            adopted = await adopt(client, obj, ref)
            if adopted is not None:
                log.info("adopted", extra={"owner": object_key(owner), "kind": kind, "object": obj.metadata.name})
                owned.append(adopted)
    for obj in claims.release:
        if await release(client, obj, uid) is not None:
            log.info("released", extra={"owner": object_key(owner), "kind": kind, "object": obj.metadata.name})
    return owned


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


def raise_first(results: Sequence[object]) -> None:
    """Re-raise the first exception of an `asyncio.gather(..., return_exceptions=True)`."""
    for result in results:
        if isinstance(result, BaseException):
            raise result

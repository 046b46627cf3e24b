"""The scheduler: informers feed the cache and queue; one loop places pods.

One scheduling cycle, for the pod at the head of the queue:

    snapshot (the cache's node list) -> filter every node -> score the
    feasible ones -> pick the best (seeded tie-break) -> assume -> bind

Everything up to "assume" is synchronous and touches only memory, so the loop
never waits on the API between pods. The bind RPC runs in a background task
(bounded by `bind_concurrency`); the assumption already counts the pod on its
node, so the next cycle sees the node as fuller even though the informer has
not reported the bind yet. A failed bind forgets the assumption and retries
the pod after backoff.

A pod that fits nowhere gets, in the background, a `PodScheduled=False,
reason=Unschedulable` condition with kube-scheduler's message and a Warning
`FailedScheduling` Event, and is parked until the cluster changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from kubelite.api import Node, Pod
from kubelite.client import ApiClient, EventRecorder, Informer
from kubelite.daemon import Metrics
from scheduler.algorithm import Algorithm, SchedulingError
from scheduler.cache import SchedulerCache
from scheduler.conditions import ConditionWriter, unschedulable_condition
from scheduler.eventhandlers import DEFAULT_SCHEDULER_NAME, EventHandlers
from scheduler.framework import ClusterEvent, CycleState, Profile, Status
from scheduler.plugins import default_profile
from scheduler.queue import QueueClosed, QueuedPodInfo, SchedulingQueue

log = logging.getLogger(__name__)

COMPONENT = "default-scheduler"


class Scheduler:
    """A kube-scheduler-shaped scheduler over an `ApiClient`.

    `rng` is the only source of randomness (tie-breaks); pass a seeded
    `random.Random` for reproducible placement.
    """

    def __init__(
        self,
        client: ApiClient,
        *,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        profile: Profile | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        recorder: EventRecorder | None = None,
        percentage_of_nodes_to_score: int = 0,
        bind_concurrency: int = 64,
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        unschedulable_flush_interval: float = 30.0,
        assume_ttl: float = 30.0,
        housekeeping_interval: float = 0.25,
        on_synced: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.profile = profile or default_profile(client, scheduler_name)
        self.metrics = metrics or Metrics()
        self.recorder = recorder or EventRecorder(client, COMPONENT)
        self.cache = SchedulerCache(assume_ttl=assume_ttl)
        self._timed_work = asyncio.Event()  # a pod entered backoff or was assumed: housekeeping has a deadline
        self.queue = SchedulingQueue(
            plugin_events=self.profile.events_for,
            registered_events=self.profile.registered_events(),
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            unschedulable_timeout=unschedulable_flush_interval,
            on_backoff=self._timed_work.set,
        )
        self.algorithm = Algorithm(self.profile, rng or random.Random(), percentage_of_nodes_to_score)
        self.handlers = EventHandlers(self.cache, self.queue, scheduler_name)
        self.conditions = ConditionWriter(client, still_pending=self.handlers.wants_scheduling)
        self.node_informer: Informer[Node] = Informer(client, Node)
        self.pod_informer: Informer[Pod] = Informer(client, Pod)
        self.node_informer.add_handlers(self.handlers.on_node_add, self.handlers.on_node_update,
                                        self.handlers.on_node_delete)
        self.pod_informer.add_handlers(self.handlers.on_pod_add, self.handlers.on_pod_update,
                                       self.handlers.on_pod_delete)
        for informer in self.profile.informers:
            informer.add_handlers(self._volumes_changed, lambda _old, _new: self._volumes_changed(None),
                                  self._volumes_changed)
        self.bind_concurrency = bind_concurrency
        self.unschedulable_flush_interval = unschedulable_flush_interval
        self.housekeeping_interval = housekeeping_interval
        # Called once the informers have listed, before the first cycle: the daemon settles its
        # heap there (kubelite/daemon/gctuning.py); tests running a scheduler in-process do not.
        self._on_synced = on_synced
        self._bind_slots = asyncio.Semaphore(bind_concurrency)
        self._binds: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self.metrics.gauge("scheduler_pending_pods", lambda: float(len(self.queue)),
                           "Pods waiting in the scheduling queue (active, backoff, unschedulable).")
        self.metrics.gauge("scheduler_nodes", lambda: float(self.cache.node_count), "Nodes in the scheduler cache.")

    def _volumes_changed(self, _obj: object) -> None:
        self.queue.move_all_to_active(ClusterEvent.VOLUME_CHANGE)

    # --- lifecycle ---------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        return (self.node_informer.has_synced and self.pod_informer.has_synced
                and all(i.has_synced for i in self.profile.informers))

    def ready_check(self) -> str | None:
        """For HealthServer: ready once both informers have listed."""
        return None if self.has_synced else "informers not synced"

    async def run(self) -> None:
        """Watch the cluster and schedule until `stop()` (or cancellation)."""
        self._spawn(self.node_informer.run(), "scheduler-node-informer")
        self._spawn(self.pod_informer.run(), "scheduler-pod-informer")
        for informer in self.profile.informers:
            self._spawn(informer.run(), f"scheduler-{informer.cls.__name__}-informer")
        try:
            synced: asyncio.Future[Any] = asyncio.ensure_future(
                asyncio.gather(self.node_informer.wait_synced(), self.pod_informer.wait_synced(),
                               *(i.wait_synced() for i in self.profile.informers)))
            stopped: asyncio.Future[Any] = asyncio.ensure_future(self._stop_requested.wait())
            try:
                await asyncio.wait({synced, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                synced.cancel()
                stopped.cancel()
            if self._stopping:
                return  # stopped before the apiserver was ever reachable
            log.info("informers synced", extra={"nodes": self.cache.node_count, "pending": len(self.queue)})
            if self._on_synced is not None:
                self._on_synced()
            self._spawn(self._housekeeping(), "scheduler-housekeeping")
            await self._scheduling_loop()
        finally:
            await self._shutdown()

    async def stop(self) -> None:
        """Graceful: stop taking pods, let in-flight binds finish (briefly), stop watching."""
        self._stopping = True
        self._stop_requested.set()
        self.queue.close()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def wrapper() -> None:
            await coro

        self._tasks.append(asyncio.get_running_loop().create_task(wrapper(), name=name))

    async def _shutdown(self) -> None:
        self.queue.close()
        if self._binds:
            _, pending = await asyncio.wait(set(self._binds), timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.conditions.close()
        await self.recorder.close(timeout=2.0)

    async def _housekeeping(self) -> None:
        """Backoff expiry, the unschedulable flush and assumed-pod expiry, on a timer.

        The timer ticks every `housekeeping_interval` only while a pod is in backoff or
        assumed; otherwise the loop sleeps until one is, or until the next unschedulable
        flush (an idle scheduler woke four times a second for nothing).
        """
        loop = asyncio.get_running_loop()
        next_flush = loop.time() + self.unschedulable_flush_interval
        while True:
            self._timed_work.clear()
            if self.queue.has_backoff() or self.cache.has_assumed():
                await asyncio.sleep(self.housekeeping_interval)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._timed_work.wait(), max(0.0, next_flush - loop.time()))
            self.queue.flush_backoff_completed()
            if loop.time() >= next_flush:
                next_flush = loop.time() + self.unschedulable_flush_interval
                self.queue.flush_unschedulable_leftover()
            if self.cache.cleanup_expired():
                self.queue.move_all_to_active(ClusterEvent.ASSIGNED_POD_DELETE)

    # --- the loop ------------------------------------------------------------------

    async def _scheduling_loop(self) -> None:
        while not self._stopping:
            await self._bind_slots.acquire()  # backpressure: at most bind_concurrency binds in flight
            try:
                qpi = await self.queue.pop()
            except QueueClosed:
                self._bind_slots.release()
                return
            try:
                binding = self.schedule_one(qpi)
            except Exception:  # a bug in one cycle must not stop the scheduler
                log.exception("scheduling cycle crashed", extra={"pod": qpi.key})
                self.queue.add_backoff(qpi)
                binding = None
            if binding is None:
                self._bind_slots.release()
            else:
                task = asyncio.get_running_loop().create_task(binding)
                self._binds.add(task)
                task.add_done_callback(self._bind_done)
            # Let informer events and bind replies in between pods; this does not wait on the API.
            await asyncio.sleep(0)

    def _bind_done(self, task: asyncio.Task[None]) -> None:
        self._binds.discard(task)
        self._bind_slots.release()

    def schedule_one(self, qpi: QueuedPodInfo) -> Coroutine[Any, Any, None] | None:
        """Run one synchronous scheduling cycle; returns the bind coroutine to run, if any."""
        pod = qpi.pod
        if not self.handlers.wants_scheduling(pod) or self.cache.is_assumed(pod):
            self.queue.done(qpi.key)
            return None
        state = self.cache.cycle_state(qpi.info)
        try:
            result = self.algorithm.schedule(state, pod, state.nodes)
        except SchedulingError as exc:
            log.warning("scheduling error", extra={"pod": qpi.key, "error": str(exc)})
            self.metrics.inc("scheduler_schedule_attempts_total", result="error")
            self.recorder.event(pod, "Warning", "FailedScheduling", str(exc))
            self.queue.add_backoff(qpi)
            return None
        if result.node_name is None:
            diagnosis = result.diagnosis
            assert diagnosis is not None
            message = diagnosis.message()
            log.info("pod unschedulable", extra={"pod": qpi.key, "reason": message})
            self.metrics.inc("scheduler_schedule_attempts_total", result="unschedulable")
            self.queue.add_unschedulable(qpi, diagnosis.unschedulable_plugins)
            self.recorder.event(pod, "Warning", "FailedScheduling", message)
            self.conditions.request(pod, unschedulable_condition(message))
            return None
        self.cache.assume_pod(qpi.info, result.node_name)
        self._timed_work.set()
        return self._bind(qpi, state, result.node_name)

    async def _bind(self, qpi: QueuedPodInfo, state: CycleState, node_name: str) -> None:
        pod = qpi.pod
        try:
            status = await self.profile.run_bind(state, pod, node_name)
        except asyncio.CancelledError:
            self.cache.forget_pod(pod)
            raise
        except Exception as exc:  # transport errors that are not ApiErrors
            status = Status.error(f"{type(exc).__name__}: {exc}")
        if status.ok:
            self.cache.finish_binding(pod)
            self.queue.done(qpi.key)
            self.metrics.inc("scheduler_schedule_attempts_total", result="scheduled")
            log.debug("bound", extra={"pod": qpi.key, "node": node_name})
            self.recorder.event(pod, "Normal", "Scheduled",
                                f"Successfully assigned {qpi.key} to {node_name}")
            return
        message = status.message()
        log.warning("bind failed", extra={"pod": qpi.key, "node": node_name, "error": message})
        self.metrics.inc("scheduler_schedule_attempts_total", result="error")
        if self.cache.forget_pod(pod):
            self.queue.move_all_to_active(ClusterEvent.ASSIGNED_POD_DELETE)
        self.recorder.event(pod, "Warning", "FailedScheduling", f"Binding rejected: {message}")
        self.queue.add_backoff(qpi)

"""One pod's worker: the loop that makes the runtime match the pod spec, step by step.

Why one serialised worker per pod: everything that happens to a pod (start,
crash, restart, delete) must be decided in order with one view of its
containers, while different pods proceed independently. The worker is woken
by informer events, by its containers exiting (the runtime's exit listeners,
through the dispatcher), by its probes, at its back-off, pull-retry and
token-refresh deadlines, and otherwise by a periodic sync: every
`resync_seconds` (1 s) while its last sync left work to do (a start that
failed, a volume or sandbox not made, a status not written), every
`sync_frequency` (1 min, as Kubernetes' `--sync-frequency`) once nothing is
left but waiting. Each `sync` is level-triggered: it looks at what is, asks the
pure planner (`pod_actions`) what to do, has the executor (`pod_executor`)
do it, and writes the pod status if it changed. What stays here is the
sequence, the status write and graceful termination (which waits on the
worker's own wake-ups for a force delete).

Time comes from `WorkerContext.clock`, never from `time.time()` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kubelet.container_track import ContainerTrack
from kubelet.envvars import RefData, referenced_objects
from kubelet.pod_actions import (
    BackOffRestart,
    CreateSandbox,
    KeepFinished,
    KillContainer,
    KillPod,
    PodFacts,
    plan_containers,
    plan_pod,
)
from kubelet.pod_context import WorkerContext
from kubelet.pod_executor import PodExecutor
from kubelet.refs import load_refs
from kubelet.status import PodView, compute_pod_status, status_changed
from kubelite.api import Pod, now
from kubelite.api.errors import ApiError, Conflict, NotFound
from kubelite.api.podutil import TERMINAL_PHASES

log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 30


class PodWorker:
    """Drives one pod (identified by uid) until it is deleted and cleaned up."""

    def __init__(self, ctx: WorkerContext, pod: Pod) -> None:
        self.ctx = ctx
        self._pod = pod
        self._uid = pod.metadata.uid or ""
        self.gone = False  # removed from the API
        self.stopping = False  # the kubelet is shutting down
        self.finished = False
        self._wake = asyncio.Event()
        self.executor = PodExecutor(ctx, self, pod)
        # (resourceVersion, view, pod IP) of the last status found already written: see write_status.
        self._status_settled: tuple[str, PodView, str] | None = None
        self.settled = False  # the last sync left nothing to do but wait (see `run`)
        self._tokens_due = False  # a projected token's refresh failed in the last sync

    # -- inputs ------------------------------------------------------------------

    @property
    def pod(self) -> Pod:
        return self._pod

    @property
    def uid(self) -> str:
        return self._uid

    @property
    def tracks(self) -> list[ContainerTrack]:
        return self.executor.tracks

    @property
    def sandbox_id(self) -> str | None:
        return self.executor.sandbox_id

    @property
    def key(self) -> str:
        return f"{self._pod.metadata.namespace or 'default'}/{self._pod.metadata.name}"

    @property
    def restart_policy(self) -> str:
        return self._pod.spec.restart_policy or "Always"

    def update(self, pod: Pod) -> None:
        """A newer copy of the pod from the API (ignored if older than what we have).

        Only a newer version wakes the worker: the same version again -- the watch event of
        the worker's own status write, or the housekeeping pass handing every worker its
        cached pod each second -- carries nothing the worker has not seen, and each such
        wake-up was a whole sync (without a resourceVersion to compare, it still wakes)."""
        rv, have = _rv(pod), _rv(self._pod)
        if rv >= have:
            self._pod = pod
        if rv > have or not rv or not have:
            self.wake()

    def mark_gone(self, final: Pod | None = None) -> None:
        if final is not None and _rv(final) >= _rv(self._pod):
            self._pod = final
        self.gone = True
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def refs_changed(self) -> None:
        """A ConfigMap or Secret the pod uses changed: re-project volumes soon."""
        self.wake()

    def uses_object(self, kind: str, namespace: str, name: str) -> bool:
        if (self._pod.metadata.namespace or "default") != namespace:
            return False
        cms, secrets = referenced_objects(self._pod)
        if kind == "Secret":
            secrets |= {s.name for s in self._pod.spec.image_pull_secrets if s.name}
        return name in (cms if kind == "ConfigMap" else secrets)

    def event(self, type_: str, reason: str, message: str) -> None:
        if self.ctx.recorder is not None:
            self.ctx.recorder.event(self._pod, type_, reason, message)

    # -- loop --------------------------------------------------------------------

    async def run(self) -> None:
        while not self.finished:
            self._wake.clear()
            self.executor.next_wake = None
            try:
                if self.stopping:
                    return
                await self.sync()
            except asyncio.CancelledError:
                raise
            except ApiError as exc:  # apiserver unreachable or restarting: retry at next sync
                log.warning("pod sync: API call failed: %s", exc, extra={"pod": self.key})
            except Exception:
                log.exception("pod sync failed", extra={"pod": self.key})
            if self.finished:
                return
            # A settled pod is woken by what changes it (exits, probes, the API, deadlines):
            # polling it every second only cost an idle kubelet a sync per pod per second.
            delay = self.ctx.sync_frequency if self.settled else self.ctx.resync_seconds
            next_wake = self.executor.next_wake
            if next_wake is not None:
                delay = max(0.05, min(delay, next_wake - self.ctx.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def facts(self) -> PodFacts:
        pod = self._pod
        return PodFacts(
            restart_policy=self.restart_policy,
            deleting=self.gone or bool(pod.metadata.deletion_timestamp),
            phase_terminal=pod.status.phase in TERMINAL_PHASES,
            sandbox_ready=self.executor.sandbox_id is not None,
        )

    async def sync(self) -> None:
        """Plan the pod-level step on what we know, then (with a fresh runtime view) the
        containers' actions: probe kills at once, starts once the refs and volumes are in.

        What does not need the sandbox runs alongside it: the pod's refs and volumes
        (`_prepare`) and, for a new sandbox, the image pulls of the starts planned on the
        empty view (the same first starts the plan after the sandbox gives); and, with a
        runtime that offers it, the sandbox's network runs alongside the containers'
        creation (each start waits for it, and so does the status)."""
        ex = self.executor
        self.settled = False  # until this sync has run to its end with nothing left to do
        step = plan_pod(self.facts(), ex.observe(self.ctx.clock()))
        if isinstance(step, KillPod):
            await self.terminate()
            return
        if isinstance(step, KeepFinished):
            await ex.stop_probes()
            self.settled = True
            return  # a finished pod never runs again
        prepared = asyncio.create_task(self._prepare(), name=f"prepare {self.key}")
        try:
            if isinstance(step, CreateSandbox):
                t_now = self.ctx.clock()
                ex.prefetch_images(plan_containers(self.restart_policy, ex.observe(t_now), t_now))
                if not await ex.ensure_sandbox():
                    await asyncio.wait({prepared})  # its own errors are for the next sync
                    ex.show_sandbox_failure()
                    await self.write_status()
                    return
            await ex.refresh()
            t_now = self.ctx.clock()
            actions = plan_containers(self.restart_policy, ex.observe(t_now), t_now)
            await ex.execute([a for a in actions if isinstance(a, KillContainer)], None, t_now)
            refs = await prepared
            if refs is not None:
                await ex.execute([a for a in actions if not isinstance(a, KillContainer)], refs, t_now)
            network = await ex.network_ready()  # a new sandbox's network, attached alongside the creates
            if not network:
                ex.show_sandbox_failure()
            written = await self.write_status()
            self.settled = (refs is not None and network and written and not self._tokens_due
                            and self._only_waiting())
        finally:
            ex.cancel_prefetch()  # early pulls serve this sync's starts only
            if not prepared.done():
                prepared.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await prepared
            elif not prepared.cancelled():
                prepared.exception()  # retrieved: a failure after a failed sandbox is retried next sync

    def _only_waiting(self) -> bool:
        """True when the containers as they are now need nothing but time: every action the
        planner would take is a back-off, whose deadline the worker then wakes at."""
        t_now = self.ctx.clock()
        for action in plan_containers(self.restart_policy, self.executor.observe(t_now), t_now):
            if not isinstance(action, BackOffRestart):
                return False
            self.executor.wake_at(action.until)
        return True

    async def _prepare(self) -> RefData | None:
        """The pod's ConfigMaps, Secrets and tokens, with its volumes set up from them;
        None while a volume cannot be made (the containers then wait with the error)."""
        refs = await load_refs(self._pod, self.ctx.source(), self.ctx.tokens)
        self._tokens_due = False
        due = self.ctx.tokens.next_refresh(self._uid) if self.ctx.tokens is not None else None
        if due is not None:
            # Woken when a projected token is due for replacement (the periodic sync is long);
            # one due already kept its old value (apiserver unreachable): work left, retried soon.
            self._tokens_due = due <= self.ctx.clock()
            if not self._tokens_due:
                self.executor.wake_at(due)
        return refs if await self.executor.prepare_volumes(refs) else None

    # -- status -------------------------------------------------------------------

    def view(self) -> PodView:
        hook = self.ctx.readiness
        init_pending = not all(
            t.terminated is not None and t.terminated.exit_code == 0 for t in self.tracks if t.init
        )

        def ready(t: ContainerTrack) -> bool:
            if t.running_since is None or (t.probes is not None and not t.probes.is_ready()):
                return False
            return hook is None or hook(self._pod, t.name)

        return PodView(
            restart_policy=self.restart_policy,
            init=[t.view(False, "PodInitializing") for t in self.tracks if t.init],
            containers=[
                t.view(ready(t), "PodInitializing" if init_pending else "ContainerCreating")
                for t in self.tracks if not t.init
            ],
        )

    async def write_status(self) -> bool:
        """UpdateStatus when the computed status differs; on Conflict refetch and retry.
        False when it is still not written after the retries (the worker tries again soon).

        The status is a function of the pod's stored version, the worker's view and the pod
        IP (the clock only stamps a condition that changes, which a settled status has none
        of), so once a status was found written for one such triple, the same triple again
        needs no computing: that is every resync of a pod whose containers just run. Building
        and comparing the status models each second for every pod was most of a busy node's
        kubelet CPU (bench/README.md, "Profiling the kubelet")."""
        pod = self._pod
        for _ in range(5):
            view = self.view()
            settled = (pod.metadata.resource_version or "", view, self.executor.pod_ip)
            if settled[0] and settled == self._status_settled:
                return True
            new = compute_pod_status(pod, view, self.ctx.node_ip, now(), pod_ip=self.executor.pod_ip)
            if not status_changed(pod.status, new):
                self._status_settled = settled
                return True
            changed = pod.model_copy(update={"status": new})  # only serialized: no deep copy needed
            try:
                self.update(await self.ctx.client.update_status(changed))
                return True
            except Conflict:
                try:
                    pod = await self.ctx.client.get(Pod, pod.metadata.name or "", pod.metadata.namespace or "default")
                except NotFound:
                    return True  # deleted: its watch event ends the worker
                if pod.metadata.uid != self._uid:
                    return True  # the name belongs to a new pod: this one is gone
                self.update(pod)
            except NotFound:
                return True
        return False

    # -- termination ----------------------------------------------------------------

    def grace_seconds(self) -> float:
        meta, spec = self._pod.metadata, self._pod.spec
        if meta.deletion_grace_period_seconds is not None:
            return float(meta.deletion_grace_period_seconds)
        if spec.termination_grace_period_seconds is not None:
            return float(spec.termination_grace_period_seconds)
        return float(DEFAULT_GRACE_SECONDS)

    async def stop_containers(self, grace: float) -> None:
        """SIGTERM every running container, SIGKILL after `grace`, or sooner when a repeated
        delete shortens the grace period meanwhile (at once if the pod is force-deleted),
        as Kubernetes' kubelet does: a grace period may be shortened, never extended."""
        ex = self.executor
        await ex.stop_probes()
        if ex.sandbox_id is None:
            return
        running = ex.running_to_stop()
        if running and grace > 0:
            self.event("Normal", "Killing", f"Stopping container {', '.join(running)}")
        sid = ex.sandbox_id
        loop = asyncio.get_running_loop()
        kill_by = loop.time() + grace
        stop = asyncio.create_task(self.ctx.runtime.stop_pod_sandbox(sid, grace))
        while not stop.done():
            self._wake.clear()
            waker = asyncio.create_task(self._wake.wait())
            await asyncio.wait({stop, waker}, return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
            if stop.done():
                break
            shortened = self._pod.metadata.deletion_grace_period_seconds
            if self.gone and (shortened or 0) == 0:
                await self.ctx.runtime.stop_pod_sandbox(sid, 0.0)
            elif shortened is not None and loop.time() + shortened < kill_by:
                kill_by = loop.time() + shortened
                log.info("grace period shortened", extra={"pod": self.key, "grace_seconds": shortened})
                await self.ctx.runtime.stop_pod_sandbox(sid, float(shortened))
        await stop
        await ex.refresh()

    async def terminate(self) -> None:
        """Graceful deletion: stop containers, final status, then remove the pod object."""
        log.info("stopping pod", extra={"pod": self.key, "grace_seconds": self.grace_seconds(), "gone": self.gone})
        await self.stop_containers(self.grace_seconds())
        if not self.gone:
            with contextlib.suppress(ApiError):
                await self.write_status()
            meta = self._pod.metadata
            try:
                await self.ctx.client.delete(
                    Pod, meta.name or "", meta.namespace or "default", grace_period_seconds=0,
                    precondition_uid=self._uid,
                )
            except (NotFound, Conflict):
                pass  # already gone, or the name now belongs to a new pod
            log.info("pod deleted", extra={"pod": self.key})
        await self.executor.cleanup()
        self.finished = True

    async def detach(self) -> None:
        """Kubelet shutdown with a runtime whose containers survive it: stop watching only."""
        await self.executor.detach()

    def container_id(self, name: str) -> str | None:
        """The runtime id of the named container's running instance (exec)."""
        return self.executor.container_id(name)


def _rv(pod: Pod) -> int:
    try:
        return int(pod.metadata.resource_version or 0)
    except ValueError:
        return 0

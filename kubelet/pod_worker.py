"""One pod's worker: makes the runtime match the pod spec, one step at a time.

Why one serialised worker per pod: everything that happens to a pod (start,
crash, restart, delete) must be decided in order with one view of its
containers, while different pods proceed independently. The worker is woken
by informer events, by its containers exiting and by a ~1 s resync, and each
`sync` is level-triggered: it looks at what is, decides the next actions
(Kubernetes' rules for init containers, restartPolicy, back-off), performs
them and writes the pod status if it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from api import Container, Pod, now
from api import pods as p
from api.errors import ApiError, Conflict, NotFound
from client import ApiClient
from kubelet import layout
from kubelet.backoff import BackOff
from kubelet.envvars import ConfigError, container_argv, container_env
from kubelet.runtime import (
    ContainerConfig,
    ContainerNotFound,
    ContainerState,
    PodSandboxConfig,
    Runtime,
    RuntimeFailure,
    StartContainerError,
)
from kubelet.status import (
    TERMINAL_PHASES,
    ContainerView,
    PodView,
    Terminated,
    compute_pod_status,
    status_changed,
)

log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 30


class Recorder(Protocol):
    def event(self, obj: Pod, type_: str, reason: str, message: str) -> None: ...


ReadinessHook = Callable[[Pod, str], bool]
"""(pod, container name) -> ready, asked only for running containers (probes come later)."""


@dataclass
class WorkerContext:
    """What every pod worker shares (one per kubelet)."""

    client: ApiClient
    runtime: Runtime
    node_name: str
    node_ip: str
    data_dir: Path
    backoff: BackOff
    recorder: Recorder | None = None
    readiness: ReadinessHook | None = None
    resync_seconds: float = 1.0


@dataclass
class _Track:
    """The kubelet's memory of one container of the pod, across its restarts."""

    spec: Container
    init: bool
    instances: int = 0  # instances started so far (restartCount = instances - 1)
    container_id: str | None = None  # runtime id of the current instance
    running_since: float | None = None
    uri: str = ""
    terminated: Terminated | None = None  # the current instance has ended
    last_terminated: Terminated | None = None
    waiting_reason: str = ""
    waiting_message: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def restart_count(self) -> int:
        return max(self.instances - 1, 0)

    def view(self, ready: bool, default_waiting: str) -> ContainerView:
        return ContainerView(
            name=self.name, image=self.spec.image or "", restart_count=self.restart_count,
            running_since=self.running_since,
            terminated=self.terminated if self.running_since is None else None,
            waiting_reason=self.waiting_reason or default_waiting, waiting_message=self.waiting_message,
            last_terminated=self.last_terminated, container_id=self.uri if self.running_since is not None or self.terminated else "",
            ready=ready,
        )


def _terminated_from_api(state: p.ContainerState) -> Terminated | None:
    t = state.terminated
    if t is None:
        return None
    return Terminated(t.exit_code, t.reason or "", None, None, t.container_id or "", t.message or "")


def _seed(track: _Track, old: p.ContainerStatus | None) -> None:
    """Continue from the status a previous kubelet wrote (restart counts survive restarts).

    A container the old status shows running died with that kubelet (the process
    runtime cannot keep containers across kubelet restarts): it counts as exited.
    """
    if old is None:
        return
    track.last_terminated = _terminated_from_api(old.last_state)
    if old.state.running is not None:
        track.instances = old.restart_count + 1
        track.terminated = Terminated(
            137, "Error", None, None, old.container_id or "", "lost when the kubelet restarted"
        )
    elif old.state.terminated is not None:
        track.instances = old.restart_count + 1
        track.terminated = _terminated_from_api(old.state)
    elif track.last_terminated is not None:
        track.instances = old.restart_count + 1


class PodWorker:
    """Drives one pod (identified by uid) until it is deleted and cleaned up."""

    def __init__(self, ctx: WorkerContext, pod: Pod) -> None:
        self.ctx = ctx
        self.pod = pod
        self.uid = pod.metadata.uid or ""
        self.gone = False  # removed from the API
        self.stopping = False  # the kubelet is shutting down
        self.finished = False
        self._wake = asyncio.Event()
        self._sandbox_id: str | None = None
        self._next_wake: float | None = None
        status = pod.status
        old = {s.name: s for s in [*status.init_container_statuses, *status.container_statuses]}
        self.tracks: list[_Track] = []
        for spec, init in [(c, True) for c in pod.spec.init_containers] + [(c, False) for c in pod.spec.containers]:
            track = _Track(spec, init)
            _seed(track, old.get(spec.name))
            self.tracks.append(track)

    # -- inputs ------------------------------------------------------------------

    @property
    def sandbox_id(self) -> str | None:
        return self._sandbox_id

    @property
    def key(self) -> str:
        return f"{self.pod.metadata.namespace or 'default'}/{self.pod.metadata.name}"

    def update(self, pod: Pod) -> None:
        """A newer copy of the pod from the API (ignored if older than what we have)."""
        if _rv(pod) >= _rv(self.pod):
            self.pod = pod
        self.wake()

    def mark_gone(self, final: Pod | None = None) -> None:
        if final is not None and _rv(final) >= _rv(self.pod):
            self.pod = final
        self.gone = True
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    # -- loop --------------------------------------------------------------------

    async def run(self) -> None:
        while not self.finished:
            self._wake.clear()
            self._next_wake = None
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
            delay = self.ctx.resync_seconds
            if self._next_wake is not None:
                delay = max(0.05, min(delay, self._next_wake - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def sync(self) -> None:
        pod = self.pod
        if self.gone or pod.metadata.deletion_timestamp:
            await self.terminate()
            return
        if pod.status.phase in TERMINAL_PHASES and not self._any_running():
            return  # a finished pod never runs again
        if self._sandbox_id is None:
            self._sandbox_id = await self.ctx.runtime.run_pod_sandbox(self._sandbox_config())
        await self._refresh()
        await self._advance()
        await self.write_status()

    def _sandbox_config(self) -> PodSandboxConfig:
        m = self.pod.metadata
        ns, name = m.namespace or "default", m.name or ""
        return PodSandboxConfig(
            name=name, namespace=ns, uid=self.uid,
            log_directory=layout.pod_log_dir(self.ctx.data_dir, ns, name, self.uid),
            work_directory=layout.pod_work_dir(self.ctx.data_dir, ns, name, self.uid),
            hostname=self.pod.spec.hostname or name,
        )

    def _any_running(self) -> bool:
        return any(t.running_since is not None for t in self.tracks)

    async def _refresh(self) -> None:
        """Update every track from the runtime's view of its current instance."""
        for t in self.tracks:
            if t.container_id is None:
                continue
            try:
                st = await self.ctx.runtime.container_status(t.container_id)
            except ContainerNotFound:
                t.container_id, t.running_since = None, None
                continue
            if st.state is ContainerState.RUNNING:
                t.running_since, t.uri, t.terminated = st.started_at, st.uri, None
            elif st.state is ContainerState.EXITED:
                t.running_since = None
                t.terminated = Terminated(
                    st.exit_code if st.exit_code is not None else 128, st.reason or "Error",
                    st.started_at, st.finished_at, st.uri, st.message,
                )

    # -- deciding what to do -------------------------------------------------------

    @property
    def restart_policy(self) -> str:
        return self.pod.spec.restart_policy or "Always"

    async def _advance(self) -> None:
        for t in (t for t in self.tracks if t.init):
            if t.running_since is not None:
                return  # init containers run one at a time, to completion
            if t.terminated is not None and t.terminated.exit_code == 0:
                continue
            if t.terminated is not None and self.restart_policy == "Never":
                return  # the pod has failed
            await self._start_or_restart(t)
            return
        for t in (t for t in self.tracks if not t.init):
            if t.running_since is not None:
                continue
            if t.terminated is not None:
                code = t.terminated.exit_code
                if self.restart_policy == "Never" or (self.restart_policy == "OnFailure" and code == 0):
                    continue
            await self._start_or_restart(t)

    async def _start_or_restart(self, t: _Track) -> None:
        """Start `t`'s next instance unless it is backing off after a crash."""
        key = f"{self.uid}/{t.name}"
        now_s = time.time()
        if t.terminated is not None:
            # The instance is done for good: it becomes lastState, its logs stay.
            t.last_terminated, t.terminated = t.terminated, None
            if t.container_id is not None:
                await self.ctx.runtime.remove_container(t.container_id)
                t.container_id = None
        if t.last_terminated is not None:
            finished = t.last_terminated.finished_at or now_s
            until = self.ctx.backoff.restart_at(key, finished, now_s)
            if until is not None:
                delay = self.ctx.backoff.delay(key, now_s)
                if t.waiting_reason != "CrashLoopBackOff":
                    self._event("Warning", "BackOff", f"Back-off restarting failed container {t.name}")
                t.waiting_reason = "CrashLoopBackOff"
                t.waiting_message = (
                    f"back-off {int(delay)}s restarting failed container={t.name} "
                    f"pod={self.pod.metadata.name}_{self.pod.metadata.namespace}({self.uid})"
                )
                self._next_wake = until if self._next_wake is None else min(self._next_wake, until)
                return
            self.ctx.backoff.record_restart(key, now_s)
        await self._start(t)

    async def _start(self, t: _Track) -> None:
        assert self._sandbox_id is not None
        attempt = t.instances
        try:
            env = container_env(self.pod, t.spec, self.ctx.node_ip)
            config = ContainerConfig(
                name=t.name, image=t.spec.image or "", argv=container_argv(t.spec, env), env=env,
                working_dir=t.spec.working_dir or "", log_path=layout.container_log_name(t.name, attempt),
                attempt=attempt,
            )
            cid = await self.ctx.runtime.create_container(self._sandbox_id, config)
        except (ConfigError, RuntimeFailure) as exc:
            if t.waiting_message != str(exc):
                self._event("Warning", "Failed", f"Error: {exc}")
            t.waiting_reason, t.waiting_message = exc.reason, str(exc)
            return
        t.instances += 1
        t.container_id = cid
        self._prune_logs(t, attempt)
        try:
            await self.ctx.runtime.start_container(cid)
        except StartContainerError as exc:
            self._event("Warning", "Failed", f"Error: {exc}")
        else:
            self._event("Normal", "Started", f"Started container {t.name}")
        t.waiting_reason = t.waiting_message = ""
        await self._refresh()

    def _prune_logs(self, t: _Track, attempt: int) -> None:
        """Keep the current and the previous log (like Kubernetes keeps one dead container)."""
        cdir = layout.pod_log_dir(self.ctx.data_dir, self.pod.metadata.namespace or "default",
                                  self.pod.metadata.name or "", self.uid) / t.name
        for old in layout.log_attempts(cdir):
            if old < attempt - 1:
                with contextlib.suppress(OSError):
                    (cdir / f"{old}.log").unlink()

    # -- status -------------------------------------------------------------------

    def view(self) -> PodView:
        hook = self.ctx.readiness
        init_pending = not all(
            t.terminated is not None and t.terminated.exit_code == 0 for t in self.tracks if t.init
        )

        def ready(t: _Track) -> bool:
            return t.running_since is not None and (hook is None or hook(self.pod, t.name))

        return PodView(
            restart_policy=self.restart_policy,
            init=[t.view(False, "PodInitializing") for t in self.tracks if t.init],
            containers=[
                t.view(ready(t), "PodInitializing" if init_pending else "ContainerCreating")
                for t in self.tracks if not t.init
            ],
        )

    async def write_status(self) -> None:
        """UpdateStatus when the computed status differs; on Conflict refetch and retry."""
        pod = self.pod
        for _ in range(5):
            new = compute_pod_status(pod, self.view(), self.ctx.node_ip, now())
            if not status_changed(pod.status, new):
                return
            changed = pod.model_copy(deep=True)
            changed.status = new
            try:
                self.update(await self.ctx.client.update_status(changed))
                return
            except Conflict:
                try:
                    pod = await self.ctx.client.get(Pod, pod.metadata.name or "", pod.metadata.namespace or "default")
                except NotFound:
                    return
                if pod.metadata.uid != self.uid:
                    return
                self.update(pod)
            except NotFound:
                return

    # -- termination ----------------------------------------------------------------

    def grace_seconds(self) -> float:
        meta, spec = self.pod.metadata, self.pod.spec
        if meta.deletion_grace_period_seconds is not None:
            return float(meta.deletion_grace_period_seconds)
        if spec.termination_grace_period_seconds is not None:
            return float(spec.termination_grace_period_seconds)
        return float(DEFAULT_GRACE_SECONDS)

    async def stop_containers(self, grace: float) -> None:
        """SIGTERM every running container, SIGKILL after `grace` (or at once if the
        pod is force-deleted meanwhile)."""
        if self._sandbox_id is None:
            return
        running = [t for t in self.tracks if t.running_since is not None and t.container_id]
        if running and grace > 0:
            names = ", ".join(t.name for t in running)
            self._event("Normal", "Killing", f"Stopping container {names}")
        sid = self._sandbox_id
        stop = asyncio.create_task(self.ctx.runtime.stop_pod_sandbox(sid, grace))
        while not stop.done():
            self._wake.clear()
            waker = asyncio.create_task(self._wake.wait())
            await asyncio.wait({stop, waker}, return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
            if not stop.done() and self.gone and (self.pod.metadata.deletion_grace_period_seconds or 0) == 0:
                await self.ctx.runtime.stop_pod_sandbox(sid, 0.0)
        await stop
        await self._refresh()

    async def terminate(self) -> None:
        """Graceful deletion: stop containers, final status, then remove the pod object."""
        log.info("stopping pod", extra={"pod": self.key, "grace_seconds": self.grace_seconds(), "gone": self.gone})
        await self.stop_containers(self.grace_seconds())
        if not self.gone:
            with contextlib.suppress(ApiError):
                await self.write_status()
            meta = self.pod.metadata
            try:
                await self.ctx.client.delete(
                    Pod, meta.name or "", meta.namespace or "default", grace_period_seconds=0,
                    precondition_uid=self.uid,
                )
            except (NotFound, Conflict):
                pass  # already gone, or the name now belongs to a new pod
            log.info("pod deleted", extra={"pod": self.key})
        await self.cleanup()
        self.finished = True

    async def cleanup(self) -> None:
        if self._sandbox_id is not None:
            await self.ctx.runtime.remove_pod_sandbox(self._sandbox_id)
            self._sandbox_id = None
        self.ctx.backoff.forget(f"{self.uid}/")

    def _event(self, type_: str, reason: str, message: str) -> None:
        if self.ctx.recorder is not None:
            self.ctx.recorder.event(self.pod, type_, reason, message)


def _rv(pod: Pod) -> int:
    try:
        return int(pod.metadata.resource_version or 0)
    except ValueError:
        return 0

"""One pod's worker: makes the runtime match the pod spec, one step at a time.

Why one serialised worker per pod: everything that happens to a pod (start,
crash, restart, delete) must be decided in order with one view of its
containers, while different pods proceed independently. The worker is woken
by informer events, by its containers exiting and by a ~1 s resync, and each
`sync` is level-triggered: it looks at what is, decides the next actions
(Kubernetes' rules for init containers, restartPolicy, back-off), performs
them and writes the pod status if it changed.

Around the core loop: ConfigMaps/Secrets are fetched each sync (from the
informer caches) and feed env and projected volumes; images are pulled
through `ImagePuller`; each running instance gets its probes
(`ContainerProbes`); a sandbox left by a previous kubelet (runc) is adopted
with its containers instead of being recreated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kubelet import layout
from kubelet.backoff import BackOff
from kubelet.container_track import ContainerTrack, seed_from_status
from kubelet.envvars import (
    ConfigError,
    RefData,
    container_env,
    expand_command,
    referenced_objects,
)
from kubelet.image_pulls import ImagePuller, PullFailed
from kubelet.pod_config import DnsHook, container_config, default_dns, sandbox_config
from kubelet.probes import ContainerProbes
from kubelet.refs import ClientObjects, ObjectSource, load_refs, refs_digest
from kubelet.runtime import (
    ContainerNotFound,
    ContainerState,
    ContainerStatus,
    PodSandboxConfig,
    Runtime,
    RuntimeFailure,
    SandboxStatus,
    StartContainerError,
)
from kubelet.status import (
    PodView,
    Terminated,
    compute_pod_status,
    status_changed,
)
from kubelet.volumes import container_mounts, refresh_projections, setup_volumes, teardown_volumes
from kubelite.api import Pod, now
from kubelite.api.errors import ApiError, Conflict, NotFound
from kubelite.api.podutil import TERMINAL_PHASES
from kubelite.client import ApiClient

log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 30


class Recorder(Protocol):
    def event(self, obj: Pod, type_: str, reason: str, message: str) -> None: ...


ReadinessHook = Callable[[Pod, str], bool]
"""(pod, container name) -> ready, asked only for running containers (on top of probes)."""


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
    objects: ObjectSource | None = None
    images: ImagePuller = field(default_factory=lambda: ImagePuller(None))
    dns: DnsHook = default_dns
    adopted: dict[str, SandboxStatus] = field(default_factory=dict)  # pod uid -> sandbox of a previous kubelet
    adoption_loaded: asyncio.Event = field(default_factory=asyncio.Event)

    def source(self) -> ObjectSource:
        return self.objects or ClientObjects(self.client)


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
        self._pod_ip = ""
        self._next_wake: float | None = None
        self._volume_paths: dict[str, Path] | None = None
        self._refs_digest = ""
        self._kills: set[asyncio.Task[None]] = set()
        status = pod.status
        old = {s.name: s for s in [*status.init_container_statuses, *status.container_statuses]}
        self.tracks: list[ContainerTrack] = []
        for spec, init in [(c, True) for c in pod.spec.init_containers] + [(c, False) for c in pod.spec.containers]:
            track = ContainerTrack(spec, init)
            seed_from_status(track, old.get(spec.name))
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
            await self._stop_probes()
            return  # a finished pod never runs again
        if self._sandbox_id is None and not await self._ensure_sandbox():
            await self.write_status()
            return
        await self._refresh()
        refs = await load_refs(self.pod, self.ctx.source())
        if await self._prepare_volumes(refs):
            await self._advance(refs)
        await self.write_status()

    def _sandbox_config(self) -> PodSandboxConfig:
        return sandbox_config(self.pod, self.ctx.data_dir, self.ctx.dns)

    async def _ensure_sandbox(self) -> bool:
        """Adopt the sandbox a previous kubelet left running, or create one."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ctx.adoption_loaded.wait(), 5.0)
        adopted = self.ctx.adopted.pop(self.uid, None)
        runtime = self.ctx.runtime
        try:
            if adopted is not None and adopted.ready:
                self._sandbox_id = adopted.id
                await self._adopt_containers()
            else:
                self._sandbox_id = await runtime.run_pod_sandbox(self._sandbox_config())
            status = await runtime.pod_sandbox_status(self._sandbox_id)
        except RuntimeFailure as exc:
            self._sandbox_id = None
            self._event("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
            for t in self.tracks:
                if t.running_since is None and t.terminated is None:
                    t.waiting_reason, t.waiting_message = "ContainerCreating", str(exc)
            return False
        host_net = bool(self.pod.spec.host_network) or not runtime.isolated
        self._pod_ip = self.ctx.node_ip if host_net or not status.ip else status.ip
        return True

    async def _adopt_containers(self) -> None:
        """Take over the newest instance of each container from the runtime (kubelet restart)."""
        assert self._sandbox_id is not None
        newest: dict[str, ContainerStatus] = {}
        stale: list[ContainerStatus] = []
        for st in await self.ctx.runtime.list_containers(self._sandbox_id):
            cur = newest.get(st.name)
            if cur is None or st.attempt > cur.attempt:
                if cur is not None:
                    stale.append(cur)
                newest[st.name] = st
            else:
                stale.append(st)
        for st in stale:
            with contextlib.suppress(RuntimeFailure):
                await self.ctx.runtime.remove_container(st.id)
        for t in self.tracks:
            found = newest.get(t.name)
            if found is None:
                continue
            t.container_id = found.id
            t.instances = found.attempt + 1
            t.terminated = None
            log.info("adopted container", extra={"pod": self.key, "container": t.name, "id": found.id})
        await self._refresh()
        for t in self.tracks:
            if t.running_since is not None and t.container_id is not None:
                self._start_probes(t, t.container_id, t.running_since)

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
                await self._stop_track_probes(t)
                continue
            if st.state is ContainerState.RUNNING:
                t.running_since, t.uri, t.terminated = st.started_at, st.uri, None
            elif st.state is ContainerState.EXITED:
                await self._stop_track_probes(t)
                t.running_since = None
                t.terminated = Terminated(
                    st.exit_code if st.exit_code is not None else 128, st.reason or "Error",
                    st.started_at, st.finished_at, st.uri, st.message,
                )

    # -- deciding what to do -------------------------------------------------------

    @property
    def restart_policy(self) -> str:
        return self.pod.spec.restart_policy or "Always"

    async def _prepare_volumes(self, refs: RefData) -> bool:
        """Set the pod's volumes up once, then keep configMap/secret projections current.
        False (and the containers waiting with the error) while a volume cannot be made."""
        if not self.pod.spec.volumes:
            self._volume_paths = {}
            return True
        digest = refs_digest(refs)
        if self._volume_paths is not None:
            if digest != self._refs_digest:
                changed = await asyncio.to_thread(refresh_projections, self.ctx.data_dir, self.pod, refs)
                self._refs_digest = digest
                if changed:
                    log.info("volumes updated", extra={"pod": self.key, "volumes": changed})
            return True
        try:
            self._volume_paths = await asyncio.to_thread(setup_volumes, self.ctx.data_dir, self.pod, refs)
        except (ConfigError, OSError) as exc:
            message = str(exc) if isinstance(exc, ConfigError) else f"volume setup failed: {exc}"
            for t in self.tracks:
                if t.running_since is None and t.container_id is None:
                    if t.waiting_message != message:
                        self._event("Warning", "Failed", f"Error: {message}")
                    t.waiting_reason, t.waiting_message = ConfigError.reason, message
            return False
        self._refs_digest = digest
        return True

    def refs_changed(self) -> None:
        """A ConfigMap or Secret the pod uses changed: re-project volumes soon."""
        self.wake()

    def uses_object(self, kind: str, namespace: str, name: str) -> bool:
        if (self.pod.metadata.namespace or "default") != namespace:
            return False
        cms, secrets = referenced_objects(self.pod)
        if kind == "Secret":
            secrets |= {s.name for s in self.pod.spec.image_pull_secrets if s.name}
        return name in (cms if kind == "ConfigMap" else secrets)

    async def _advance(self, refs: RefData) -> None:
        for t in (t for t in self.tracks if t.init):
            if t.running_since is not None:
                return  # init containers run one at a time, to completion
            if t.terminated is not None and t.terminated.exit_code == 0:
                continue
            if t.terminated is not None and self.restart_policy == "Never":
                return  # the pod has failed
            await self._start_or_restart(t, refs)
            return
        for t in (t for t in self.tracks if not t.init):
            if t.running_since is not None:
                continue
            if t.terminated is not None:
                code = t.terminated.exit_code
                if self.restart_policy == "Never" or (self.restart_policy == "OnFailure" and code == 0):
                    continue
            await self._start_or_restart(t, refs)

    async def _start_or_restart(self, t: ContainerTrack, refs: RefData) -> None:
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
        await self._start(t, refs)

    async def _pull(self, t: ContainerTrack) -> str | None:
        """The image reference for the runtime, or None while the image is not there."""
        try:
            return await self.ctx.images.pull(self.pod, t.spec, self.ctx.source().secret, self._event)
        except PullFailed as exc:
            if exc.reason == "ImagePullBackOff" and t.waiting_reason != "ImagePullBackOff":
                self._event("Normal", "BackOff", f'Back-off pulling image "{t.spec.image}"')
                self._event("Warning", "Failed", "Error: ImagePullBackOff")
            t.waiting_reason, t.waiting_message = exc.reason, exc.message
            retry = self.ctx.images.retry_at(self.pod, t.spec)
            if retry is not None:
                self._next_wake = retry if self._next_wake is None else min(self._next_wake, retry)
            return None

    async def _start(self, t: ContainerTrack, refs: RefData) -> None:
        assert self._sandbox_id is not None
        attempt = t.instances
        image = await self._pull(t)
        if image is None:
            return
        try:
            env = container_env(self.pod, t.spec, self.ctx.node_ip, refs, pod_ip=self._pod_ip)
            command, args = expand_command(t.spec, env)
            mounts = container_mounts(self.pod, t.spec, self._volume_paths or {})
            config = container_config(self.pod, t.spec, image, env, command, args, mounts, attempt)
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
        if t.running_since is not None:
            self._start_probes(t, cid, t.running_since)

    # -- probes --------------------------------------------------------------------

    def _probe_host(self) -> str:
        """Where httpGet/tcpSocket probes connect: the pod IP, or loopback for host processes."""
        if not self.ctx.runtime.isolated:
            return "127.0.0.1"
        return self._pod_ip or self.ctx.node_ip

    def _start_probes(self, t: ContainerTrack, cid: str, started_at: float) -> None:
        spec = t.spec
        if t.init or (spec.liveness_probe is None and spec.readiness_probe is None and spec.startup_probe is None):
            return
        probes = ContainerProbes(
            self.ctx.runtime, cid, spec, self._probe_host(), on_change=self.wake, on_event=self._event,
            on_kill=lambda kind, message: self._probe_kill(t, cid, kind, message), started_at=started_at,
        )
        t.probes = probes
        probes.start()

    def _probe_kill(self, t: ContainerTrack, cid: str, kind: str, message: str) -> None:
        """Liveness/startup failure: kill the instance; the worker restarts it per restartPolicy."""
        probe = t.spec.liveness_probe if kind == "Liveness" else t.spec.startup_probe
        grace = probe.termination_grace_period_seconds if probe is not None else None
        seconds = float(grace) if grace is not None else self.grace_seconds()
        self._event("Normal", "Killing", f"Container {t.name} failed {kind.lower()} probe, will be restarted")
        log.info("probe failed, killing container", extra={"pod": self.key, "container": t.name, "probe": kind,
                                                            "error": message})

        async def kill() -> None:
            try:
                await self.ctx.runtime.stop_container(cid, seconds)
            except RuntimeFailure as exc:
                log.warning("killing container failed: %s", exc, extra={"pod": self.key})
            self.wake()

        task = asyncio.create_task(kill(), name=f"kill {self.key}/{t.name}")
        self._kills.add(task)
        task.add_done_callback(self._kills.discard)

    async def _stop_track_probes(self, t: ContainerTrack) -> None:
        probes, t.probes = t.probes, None
        if probes is not None:
            await probes.stop()

    async def _stop_probes(self) -> None:
        for t in self.tracks:
            await self._stop_track_probes(t)

    def _prune_logs(self, t: ContainerTrack, attempt: int) -> None:
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

        def ready(t: ContainerTrack) -> bool:
            if t.running_since is None or (t.probes is not None and not t.probes.is_ready()):
                return False
            return hook is None or hook(self.pod, t.name)

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
            new = compute_pod_status(pod, self.view(), self.ctx.node_ip, now(), pod_ip=self._pod_ip)
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
        await self._stop_probes()
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

    async def detach(self) -> None:
        """Kubelet shutdown with a runtime whose containers survive it: stop watching only."""
        await self._stop_probes()
        for task in list(self._kills):
            task.cancel()

    async def cleanup(self) -> None:
        await self._stop_probes()
        for task in list(self._kills):
            task.cancel()
        if self._sandbox_id is not None:
            await self.ctx.runtime.remove_pod_sandbox(self._sandbox_id)
            self._sandbox_id = None
        await asyncio.to_thread(teardown_volumes, self.ctx.data_dir, self.pod)
        self.ctx.backoff.forget(f"{self.uid}/")
        self.ctx.images.forget(self.uid)

    def container_id(self, name: str) -> str | None:
        """The runtime id of the named container's running instance (exec)."""
        t = next((t for t in self.tracks if t.name == name), None)
        return t.container_id if t is not None and t.running_since is not None else None

    def _event(self, type_: str, reason: str, message: str) -> None:
        if self.ctx.recorder is not None:
            self.ctx.recorder.event(self.pod, type_, reason, message)


def _rv(pod: Pod) -> int:
    try:
        return int(pod.metadata.resource_version or 0)
    except ValueError:
        return 0

"""Carries one pod's planned actions out on the runtime, and keeps its view current.

Why apart from the planner: everything here has effects -- the sandbox, image
pulls, container creation, volumes, probes, kills, events -- and none of it
decides anything that `pod_actions` did not already decide; it only reports
what it could not do (a sandbox or volume that cannot be made, an image not
there yet) as waiting reasons on the container tracks. The worker loop
(`pod_sync`) asks the planner, hands the actions here and writes the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Protocol

from kubelet import layout
from kubelet.container_track import ContainerTrack, KillRequest, seed_from_status
from kubelet.envvars import ConfigError, RefData, container_env, expand_command, uses_pod_ip
from kubelet.image_pulls import PullFailed
from kubelet.localpath import ClaimPending, claim_paths
from kubelet.pod_actions import (
    BackOffRestart,
    ContainerAction,
    Exited,
    KillContainer,
    ObservedContainer,
    StartContainer,
)
from kubelet.pod_config import container_config, sandbox_config
from kubelet.pod_context import WorkerContext
from kubelet.probes import ContainerProbes
from kubelet.refs import refs_digest
from kubelet.runtime import (
    ContainerNotFound,
    ContainerState,
    ContainerStatus,
    RuntimeFailure,
    StagedSandboxRuntime,
    StartContainerError,
)
from kubelet.status import Terminated
from kubelet.volumes import container_mounts, refresh_projections, setup_volumes, teardown_volumes
from kubelite.api import Pod
from kubelite.api.errors import ApiError

log = logging.getLogger(__name__)


class PodHost(Protocol):
    """What the executor needs from the worker that owns it."""

    @property
    def pod(self) -> Pod: ...

    @property
    def uid(self) -> str: ...

    @property
    def key(self) -> str: ...

    def wake(self) -> None: ...

    def event(self, type_: str, reason: str, message: str) -> None: ...

    def grace_seconds(self) -> float: ...


def _exited(t: Terminated | None) -> Exited | None:
    return None if t is None else Exited(t.exit_code, t.finished_at)


class PodExecutor:
    """One pod's sandbox, containers, volumes and probes on the runtime."""

    def __init__(self, ctx: WorkerContext, host: PodHost, pod: Pod) -> None:
        self.ctx = ctx
        self.host = host
        self.sandbox_id: str | None = None
        self.pod_ip = ""
        self._network_known = False  # pod_ip is the sandbox's (its network is attached)
        self.next_wake: float | None = None  # earliest back-off/pull retry deadline (ctx.clock time)
        self._volume_paths: dict[str, Path] | None = None
        self._refs_digest = ""
        self._kills: set[asyncio.Task[None]] = set()
        self._pulls: dict[str, tuple[str, asyncio.Task[str | None]]] = {}  # name -> (image, pull begun early)
        self._sandbox_error = ""
        status = pod.status
        old = {s.name: s for s in [*status.init_container_statuses, *status.container_statuses]}
        self.tracks: list[ContainerTrack] = []
        for spec, init in [(c, True) for c in pod.spec.init_containers] + [(c, False) for c in pod.spec.containers]:
            track = ContainerTrack(spec, init)
            seed_from_status(track, old.get(spec.name))
            self.tracks.append(track)

    # -- the view handed to the planner ------------------------------------------------

    def _backoff_key(self, t: ContainerTrack) -> str:
        return f"{self.host.uid}/{t.name}"

    def observe(self, now: float) -> list[ObservedContainer]:
        """The tracks as the planner sees them (no runtime call: `refresh` first for a fresh view)."""
        return [
            ObservedContainer(
                name=t.name, init=t.init, running=t.running_since is not None,
                exited=_exited(t.terminated), last_exit=_exited(t.last_terminated),
                backoff=self.ctx.backoff.current(self._backoff_key(t), now), kill=t.pending_kill,
            )
            for t in self.tracks
        ]

    def any_running(self) -> bool:
        return any(t.running_since is not None for t in self.tracks)

    def _track(self, name: str) -> ContainerTrack:
        return next(t for t in self.tracks if t.name == name)

    def wake_at(self, when: float) -> None:
        """Have the worker sync again by `when` (ctx.clock time), whatever its periodic sync."""
        self.next_wake = when if self.next_wake is None else min(self.next_wake, when)

    # -- sandbox and runtime view --------------------------------------------------------

    async def ensure_sandbox(self) -> bool:
        """Adopt the sandbox a previous kubelet left running, or create one. False when
        neither works (`show_sandbox_failure` then puts the error on the containers).
        A runtime that can attach the network later (StagedSandboxRuntime) returns before
        it is attached: `network_ready` waits for it, before a start and the status."""
        pod = self.host.pod
        adopted = self.ctx.adopted.pop(self.host.uid, None)
        runtime = self.ctx.runtime
        self.pod_ip, self._network_known = "", False
        try:
            if adopted is not None and adopted.ready:
                self.sandbox_id = adopted.id
                await self._adopt_containers()
            elif isinstance(runtime, StagedSandboxRuntime):
                self.sandbox_id = await runtime.begin_pod_sandbox(sandbox_config(pod, self.ctx.data_dir, self.ctx.dns))
                return True
            else:
                self.sandbox_id = await runtime.run_pod_sandbox(sandbox_config(pod, self.ctx.data_dir, self.ctx.dns))
        except RuntimeFailure as exc:
            self._sandbox_failed(exc)
            return False
        return await self.network_ready()

    async def network_ready(self) -> bool:
        """Wait for the sandbox's network (if still being attached) and learn the pod IP.
        False when there is no sandbox or its network failed (the runtime removed it)."""
        if self.sandbox_id is None:
            return False
        if self._network_known:
            return True
        runtime = self.ctx.runtime
        try:
            if isinstance(runtime, StagedSandboxRuntime):
                status = await runtime.sandbox_network(self.sandbox_id)
            else:
                status = await runtime.pod_sandbox_status(self.sandbox_id)
        except RuntimeFailure as exc:
            self._sandbox_failed(exc)
            return False
        host_net = bool(self.host.pod.spec.host_network) or not runtime.isolated
        self.pod_ip = self.ctx.node_ip if host_net or not status.ip else status.ip
        self._network_known = True
        return True

    def _sandbox_failed(self, exc: RuntimeFailure) -> None:
        self.sandbox_id = None
        self._sandbox_error = str(exc)
        self.host.event("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")

    def show_sandbox_failure(self) -> None:
        """The containers that have not run wait with the sandbox's error (after anything
        that ran alongside the sandbox, such as volume setup, had its say)."""
        for t in self.tracks:
            if t.running_since is None and t.terminated is None:
                t.waiting_reason, t.waiting_message = "ContainerCreating", self._sandbox_error

    def prefetch_images(self, actions: list[ContainerAction]) -> None:
        """Begin the image pulls of the planned starts now (while the sandbox is being made);
        `_start` awaits them instead of pulling again, so each start still pulls once. Not for
        a sandbox a previous kubelet left: it comes with its containers, which need no pull."""
        if self.host.uid in self.ctx.adopted:
            return
        for action in actions:
            if isinstance(action, StartContainer) and action.name not in self._pulls:
                t = self._track(action.name)
                self._pulls[t.name] = (t.spec.image or "", asyncio.create_task(self._pull(t), name=f"pull {t.name}"))

    def cancel_prefetch(self) -> None:
        """Drop early pulls no start of this sync took (a failed sandbox, a changed plan); the
        image store's own download goes on, shielded, and the next attempt joins it."""
        for _, task in self._pulls.values():
            task.cancel()
        self._pulls.clear()

    async def _adopt_containers(self) -> None:
        """Take over the newest instance of each container from the runtime (kubelet restart)."""
        assert self.sandbox_id is not None
        newest: dict[str, ContainerStatus] = {}
        stale: list[ContainerStatus] = []
        for st in await self.ctx.runtime.list_containers(self.sandbox_id):
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
            log.info("adopted container", extra={"pod": self.host.key, "container": t.name, "id": found.id})
        await self.refresh()
        for t in self.tracks:
            if t.running_since is not None and t.container_id is not None:
                self._start_probes(t, t.container_id, t.running_since)

    async def refresh(self) -> None:
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

    # -- volumes ---------------------------------------------------------------------------

    async def prepare_volumes(self, refs: RefData) -> bool:
        """Set the pod's volumes up once, then keep configMap/secret projections current.
        False (and the containers waiting with the error) while a volume cannot be made."""
        pod = self.host.pod
        if not pod.spec.volumes:
            self._volume_paths = {}
            return True
        digest = refs_digest(refs)
        if self._volume_paths is not None:
            if digest != self._refs_digest:
                changed = await asyncio.to_thread(refresh_projections, self.ctx.data_dir, pod, refs)
                self._refs_digest = digest
                if changed:
                    log.info("volumes updated", extra={"pod": self.host.key, "volumes": changed})
            return True
        try:
            claims = await claim_paths(self.ctx.client, pod, self.ctx.data_dir, self.ctx.node_name)
            self._volume_paths = await asyncio.to_thread(setup_volumes, self.ctx.data_dir, pod, refs, claims)
        except (ConfigError, OSError, ApiError) as exc:
            message = str(exc) if isinstance(exc, ConfigError) else f"volume setup failed: {exc}"
            reason = exc.reason if isinstance(exc, ConfigError) else ConfigError.reason
            for t in self.tracks:
                if t.running_since is None and t.container_id is None:
                    if t.waiting_message != message:
                        if isinstance(exc, ClaimPending):
                            self.host.event("Warning", "FailedMount", message)
                        else:
                            self.host.event("Warning", "Failed", f"Error: {message}")
                    t.waiting_reason, t.waiting_message = reason, message
            return False
        self._refs_digest = digest
        return True

    # -- container actions -----------------------------------------------------------------

    async def execute(self, actions: list[ContainerAction], refs: RefData | None, now: float) -> None:
        """Carry the actions out in order. Starts need the pod's `refs` (env, volumes);
        kills do not (they run before the refs are loaded)."""
        for action in actions:
            t = self._track(action.name)
            if isinstance(action, KillContainer):
                self._kill(t, action.reason)
                continue
            if action.retire:
                await self._retire(t)
            if isinstance(action, BackOffRestart):
                self._back_off(t, action)
            elif isinstance(action, StartContainer):
                assert refs is not None, "starting a container needs the pod's ConfigMaps/Secrets"
                if action.restart:
                    self.ctx.backoff.record_restart(self._backoff_key(t), now)
                await self._start(t, refs)

    async def _retire(self, t: ContainerTrack) -> None:
        """The instance is done for good: it becomes lastState, its logs stay."""
        t.last_terminated, t.terminated = t.terminated, None
        t.kill_request = None
        if t.container_id is not None:
            await self.ctx.runtime.remove_container(t.container_id)
            t.container_id = None

    def _back_off(self, t: ContainerTrack, action: BackOffRestart) -> None:
        pod = self.host.pod
        if t.waiting_reason != "CrashLoopBackOff":
            self.host.event("Warning", "BackOff", f"Back-off restarting failed container {t.name}")
        t.waiting_reason = "CrashLoopBackOff"
        t.waiting_message = (
            f"back-off {int(action.delay)}s restarting failed container={t.name} "
            f"pod={pod.metadata.name}_{pod.metadata.namespace}({self.host.uid})"
        )
        self.wake_at(action.until)

    async def _pull(self, t: ContainerTrack) -> str | None:
        """The image reference for the runtime, or None while the image is not there."""
        pod = self.host.pod
        try:
            return await self.ctx.images.pull(pod, t.spec, self.ctx.source().secret, self.host.event)
        except PullFailed as exc:
            if exc.reason == "ImagePullBackOff" and t.waiting_reason != "ImagePullBackOff":
                self.host.event("Normal", "BackOff", f'Back-off pulling image "{t.spec.image}"')
                self.host.event("Warning", "Failed", "Error: ImagePullBackOff")
            t.waiting_reason, t.waiting_message = exc.reason, exc.message
            retry = self.ctx.images.retry_at(pod, t.spec)
            if retry is not None:
                self.wake_at(retry)
            return None

    async def _start(self, t: ContainerTrack, refs: RefData) -> None:
        if self.sandbox_id is None:
            return  # its network failed during an earlier start of this sync
        pod = self.host.pod
        attempt = t.instances
        early = self._pulls.pop(t.name, None)
        if early is not None and early[0] == (t.spec.image or ""):
            image = await early[1]
        else:
            if early is not None:
                early[1].cancel()
            image = await self._pull(t)
        if image is None:
            return
        if uses_pod_ip(t.spec) and not await self.network_ready():
            return  # the env needs the pod IP: this container is created after the network
        try:
            env = container_env(pod, t.spec, self.ctx.node_ip, refs, pod_ip=self.pod_ip)
            command, args = expand_command(t.spec, env)
            mounts = container_mounts(pod, t.spec, self._volume_paths or {})
            config = container_config(pod, t.spec, image, env, command, args, mounts, attempt)
            cid = await self.ctx.runtime.create_container(self.sandbox_id, config)
        except (ConfigError, RuntimeFailure) as exc:
            if t.waiting_message != str(exc):
                self.host.event("Warning", "Failed", f"Error: {exc}")
            t.waiting_reason, t.waiting_message = exc.reason, str(exc)
            return
        if not await self.network_ready():  # created alongside the CNI ADD, which failed
            with contextlib.suppress(RuntimeFailure):
                await self.ctx.runtime.remove_container(cid)
            return
        t.instances += 1
        t.container_id = cid
        self._prune_logs(t, attempt)
        try:
            await self.ctx.runtime.start_container(cid)
        except StartContainerError as exc:
            self.host.event("Warning", "Failed", f"Error: {exc}")
        else:
            self.host.event("Normal", "Started", f"Started container {t.name}")
        t.waiting_reason = t.waiting_message = ""
        await self.refresh()
        if t.running_since is not None:
            self._start_probes(t, cid, t.running_since)

    def _prune_logs(self, t: ContainerTrack, attempt: int) -> None:
        """Keep the current and the previous log (like Kubernetes keeps one dead container)."""
        pod = self.host.pod
        cdir = layout.pod_log_dir(self.ctx.data_dir, pod.metadata.namespace or "default",
                                  pod.metadata.name or "", self.host.uid) / t.name
        for old in layout.log_attempts(cdir):
            if old < attempt - 1:
                with contextlib.suppress(OSError):
                    (cdir / f"{old}.log").unlink()

    # -- probes and kills ------------------------------------------------------------------

    def _probe_host(self) -> str:
        """Where httpGet/tcpSocket probes connect: the pod IP, or loopback for host processes."""
        if not self.ctx.runtime.isolated:
            return "127.0.0.1"
        return self.pod_ip or self.ctx.node_ip

    def _start_probes(self, t: ContainerTrack, cid: str, started_at: float) -> None:
        spec = t.spec
        if t.init or (spec.liveness_probe is None and spec.readiness_probe is None and spec.startup_probe is None):
            return
        probes = ContainerProbes(
            self.ctx.runtime, cid, spec, self._probe_host(), on_change=self.host.wake, on_event=self.host.event,
            on_kill=lambda kind, message: self.request_kill(t, cid, kind, message), started_at=started_at,
        )
        t.probes = probes
        probes.start()

    def request_kill(self, t: ContainerTrack, cid: str, kind: str, message: str) -> None:
        """A probe gave up on instance `cid`: the planner turns this into a KillContainer."""
        t.kill_request = KillRequest(cid, kind, message)
        self.host.wake()

    def _kill(self, t: ContainerTrack, kind: str) -> None:
        """Liveness/startup failure: kill the instance in the background (within the probe's
        grace period); the worker restarts it per restartPolicy once it has exited."""
        req, t.kill_request = t.kill_request, None
        cid = t.container_id
        if req is None or cid is None:
            return
        probe = t.spec.liveness_probe if kind == "Liveness" else t.spec.startup_probe
        grace = probe.termination_grace_period_seconds if probe is not None else None
        seconds = float(grace) if grace is not None else self.host.grace_seconds()
        self.host.event("Normal", "Killing", f"Container {t.name} failed {kind.lower()} probe, will be restarted")
        log.info("probe failed, killing container", extra={"pod": self.host.key, "container": t.name, "probe": kind,
                                                            "error": req.message})

        async def kill() -> None:
            try:
                await self.ctx.runtime.stop_container(cid, seconds)
            except RuntimeFailure as exc:
                log.warning("killing container failed: %s", exc, extra={"pod": self.host.key})
            self.host.wake()

        task = asyncio.create_task(kill(), name=f"kill {self.host.key}/{t.name}")
        self._kills.add(task)
        task.add_done_callback(self._kills.discard)

    async def _stop_track_probes(self, t: ContainerTrack) -> None:
        probes, t.probes = t.probes, None
        if probes is not None:
            await probes.stop()

    async def stop_probes(self) -> None:
        for t in self.tracks:
            await self._stop_track_probes(t)

    # -- the end -----------------------------------------------------------------------------

    def running_to_stop(self) -> list[str]:
        """Names of the containers a pod stop will kill."""
        return [t.name for t in self.tracks if t.running_since is not None and t.container_id]

    async def detach(self) -> None:
        """Kubelet shutdown with a runtime whose containers survive it: stop watching only."""
        await self.stop_probes()
        self.cancel_prefetch()
        for task in list(self._kills):
            task.cancel()

    async def cleanup(self) -> None:
        """The pod is gone: sandbox, volumes and per-pod memory (back-off, pulls) go too."""
        await self.detach()
        if self.sandbox_id is not None:
            await self.ctx.runtime.remove_pod_sandbox(self.sandbox_id)
            self.sandbox_id = None
        await asyncio.to_thread(teardown_volumes, self.ctx.data_dir, self.host.pod)
        self.ctx.backoff.forget(f"{self.host.uid}/")
        self.ctx.images.forget(self.host.uid)
        if self.ctx.tokens is not None:
            self.ctx.tokens.forget(self.host.uid)

    def container_id(self, name: str) -> str | None:
        """The runtime id of the named container's running instance (exec)."""
        t = next((t for t in self.tracks if t.name == name), None)
        return t.container_id if t is not None and t.running_since is not None else None

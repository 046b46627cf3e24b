"""The `runc` runtime: pods as real, isolated OCI containers run by runc under conmon.

Why it is built this way:

* a pod sandbox is a set of namespaces held by bind mounts (see `sandbox.py`),
  joined by the pod's containers: one network (CNI), one IPC, one UTS;
* a container is an overlayfs rootfs over the image's layer directories plus an
  OCI bundle (`bundle.py`), created and started like containerd does it:
  `create_container` prepares everything that can be checked up front
  (CreateContainerError), `start_container` has conmon run `runc create`, then
  `runc start` (failures there are StartError, exit code 128);
* conmon, not the kubelet, is the container's parent, so containers outlive the
  kubelet: `start()` re-adopts every sandbox and container found in the state
  directory and in `runc list`, and `shutdown()` leaves them running;
* exits are learnt by polling conmon's exit files (`exits.py`), which works
  the same for re-adopted containers.

State (one directory per kubelet, so several kubelets can share a machine):

    <state>/runc/                 runc --root
    <state>/sandboxes/<id>/       see sandbox.py
    <state>/containers/<id>/      meta.json, config.json, rootfs/ (overlay), upper/, work/, persist/
    <state>/exits/<id>            conmon exit files
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from kubelet import stats
from kubelet.exec_session import ProcessExecSession, SpawnedExec, check_exec, read_pid_file
from kubelet.runc import bundle, conmon, overlay, podcgroup
from kubelet.runc import sandbox as sb
from kubelet.runc import security as secctx
from kubelet.runc.cli import Runc, RuncError
from kubelet.runc.exits import ExitWatcher
from kubelet.runc.records import (
    CGROUP_ROOT,
    ContainerRecord,
    ImageLike,
    ImageResolver,
    PodNetwork,
    blank_config,
    blank_status,
    conmon_alive,
    image_file,
    image_process,
)
from kubelet.runtime import (
    ContainerConfig,
    ContainerNotFound,
    ContainerState,
    ContainerStatus,
    CreateContainerConfigError,
    CreateContainerError,
    ExecError,
    ExitListener,
    Mount,
    PodSandboxConfig,
    RuntimeFailure,
    SandboxError,
    SandboxStatus,
    StartContainerError,
)

log = logging.getLogger(__name__)

KILL_WAIT = 10.0  # after SIGKILL, how long before we stop waiting for conmon's exit file


class RuncRuntime(SpawnedExec):
    """CRI-shaped runtime over runc + conmon (see module doc)."""

    name = "runc"
    isolated = True

    def __init__(
        self,
        state_dir: Path,
        images: ImageResolver,
        network: PodNetwork | None = None,
        *,
        node_ip: str = "",
        runc: str = "runc",
        conmon_bin: str = "conmon",
        cgroup_parent: str = "kubelite",
        poll_interval: float = 0.1,
        pod_max_pids: int = 0,
        seccomp_dir: Path | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.pod_max_pids = pod_max_pids  # pids.max of each pod's cgroup (podcgroup.py); 0: unlimited
        self.seccomp_dir = seccomp_dir or state_dir / "seccomp"  # `Localhost` seccomp profiles
        self.version = "unknown"
        self.node_ip = node_ip
        self._images = images
        self._network = network
        self._runc = Runc(shutil.which(runc) or runc, state_dir / "runc")
        self._conmon = shutil.which(conmon_bin) or conmon_bin
        self.cgroup_parent = cgroup_parent.strip("/")
        self._sandboxes: dict[str, sb.SandboxRecord] = {}
        self._containers: dict[str, ContainerRecord] = {}
        self._exits = ExitWatcher(state_dir / "exits", self._containers, poll_interval)
        self._sandbox_locks: dict[str, asyncio.Lock] = {}
        self._networks: dict[str, asyncio.Task[None]] = {}  # sandbox id -> its CNI ADD under way

    # -- paths -----------------------------------------------------------------------

    def pod_cgroup(self, sandbox_id: str) -> str:
        """The sandbox's pod cgroup below each controller root (its containers' parent)."""
        return podcgroup.pod_path(self.cgroup_parent, sandbox_id)

    def _ensure_pod_cgroup(self, rec: sb.SandboxRecord) -> None:
        podcgroup.ensure(self.cgroup_parent, rec.id, self.pod_max_pids)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._exits.running:
            return  # already started
        for d in ("runc", "sandboxes", "containers", "exits", "socks", "exec"):
            (self.state_dir / d).mkdir(parents=True, exist_ok=True)
        for stale in (self.state_dir / "exec").iterdir():  # pid files of a previous kubelet's execs
            stale.unlink(missing_ok=True)
        code, out, _ = await self._runc.run("--version")
        if code == 0 and out:
            self.version = out.split()[2].decode(errors="replace") if len(out.split()) > 2 else self.version
        await self._readopt()
        self._exits.start()

    async def shutdown(self, timeout: float) -> None:
        """Stop watching; containers keep running under conmon for the next kubelet."""
        await self._exits.stop()

    async def remove_all(self, timeout: float) -> None:
        """Stop and remove every sandbox and container (node teardown, tests)."""
        await asyncio.gather(*(self.stop_pod_sandbox(sid, timeout) for sid in list(self._sandboxes)),
                             return_exceptions=True)
        for sid in list(self._sandboxes):
            try:
                await self.remove_pod_sandbox(sid)
            except RuntimeFailure as exc:  # e.g. CNI DEL failed: still release the namespaces
                log.warning("removing pod sandbox %s: %s", sid, exc)
                rec = self._sandboxes.pop(sid)
                await asyncio.to_thread(sb.release, rec)
        for cid in list(self._containers):
            await self.remove_container(cid)

    def add_exit_listener(self, listener: ExitListener) -> None:
        self._exits.listeners.append(listener)

    # -- sandboxes -------------------------------------------------------------------

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        sid = await self.begin_pod_sandbox(config)
        await self.sandbox_network(sid)
        return sid

    async def begin_pod_sandbox(self, config: PodSandboxConfig) -> str:
        """The pod cgroup and namespaces now; the network (CNI ADD) in a task of its own, which
        `sandbox_network` and `start_container` wait for (StagedSandboxRuntime)."""
        async with self._sandbox_locks.setdefault(config.uid, asyncio.Lock()):
            for rec in list(self._sandboxes.values()):
                if (rec.config.uid, rec.config.name, rec.config.namespace) != (config.uid, config.name,
                                                                                config.namespace):
                    continue
                if rec.ready or rec.id in self._networks:
                    return rec.id
                if overlay.is_mountpoint(rec.dir / "ipc"):  # stopped: bring its network back
                    await asyncio.to_thread(self._ensure_pod_cgroup, rec)
                    self._networks[rec.id] = asyncio.create_task(self._connect(rec, 0.0, fresh=False))
                    return rec.id
                await self._forget_sandbox(rec)  # its namespaces are gone (reboot): start afresh
            sid = secrets.token_hex(16)
            # Not ready until its network is: a kubelet restarted meanwhile attaches it again.
            rec = sb.SandboxRecord(sid, config, self.state_dir / "sandboxes" / sid, ready=False,
                                   created_at=time.time())
            rec.dir.mkdir(parents=True)
            rec.save()
            t0 = time.monotonic()
            try:
                config.log_directory.mkdir(parents=True, exist_ok=True)
                # Independent: the pod cgroup (cgroupfs, in a thread) and the namespaces.
                done = await asyncio.gather(asyncio.to_thread(self._ensure_pod_cgroup, rec),
                                            sb.create_namespaces(rec), return_exceptions=True)
                for result in done:
                    if isinstance(result, BaseException):
                        raise result
                sb.write_pod_files(rec)  # before any container binds them; the IP is added in place
            except BaseException as exc:
                await asyncio.to_thread(sb.release, rec)
                await asyncio.to_thread(podcgroup.remove, self.cgroup_parent, sid)
                if isinstance(exc, RuntimeFailure) or not isinstance(exc, Exception):
                    raise
                raise SandboxError(f"cannot create pod sandbox: {exc}") from exc
            self._sandboxes[sid] = rec
            self._networks[sid] = asyncio.create_task(self._connect(rec, time.monotonic() - t0, fresh=True),
                                                      name=f"pod network {sid}")
            return sid

    async def _connect(self, rec: sb.SandboxRecord, namespaces_s: float, fresh: bool) -> None:
        """Attach the sandbox's network, then put its IP into the pod's /etc/hosts (in place:
        containers created meanwhile have bound the file). A new sandbox whose network fails
        is removed with whatever was created in it; a stopped one stays as it was."""
        t1 = time.monotonic()
        try:
            await self._attach_network(rec)
            sb.write_pod_files(rec)
            rec.ready = True
            rec.save()
        except BaseException as exc:
            if fresh:
                await self._forget_sandbox(rec)
            if isinstance(exc, RuntimeFailure) or not isinstance(exc, Exception):
                raise
            raise SandboxError(f"cannot create pod sandbox: {exc}") from exc
        config = rec.config
        log.info("pod sandbox ready", extra={"sandbox": rec.id, "pod": f"{config.namespace}/{config.name}",
                                             "ip": rec.ip, "namespaces_ms": _ms(namespaces_s),
                                             "network_ms": _ms(time.monotonic() - t1)})

    async def sandbox_network(self, sandbox_id: str) -> SandboxStatus:
        task = self._networks.get(sandbox_id)
        if task is not None:
            try:
                await asyncio.shield(task)  # a caller cancelled does not stop the CNI ADD
            finally:
                if task.done() and self._networks.get(sandbox_id) is task:
                    del self._networks[sandbox_id]
        return self._sandbox_status(self._sandbox(sandbox_id))

    async def _settle_network(self, sandbox_id: str) -> None:
        """Let a network attach under way finish (or fail) before the sandbox is stopped."""
        with contextlib.suppress(Exception):
            await self.sandbox_network(sandbox_id)

    async def _forget_sandbox(self, rec: sb.SandboxRecord) -> None:
        """Drop a broken sandbox and its containers, keeping the pod's logs."""
        for cid in [c.id for c in self._containers.values() if c.sandbox_id == rec.id]:
            await self.remove_container(cid)
        if self._network is not None and not rec.config.host_network:
            with contextlib.suppress(Exception):
                await self._network.delete(rec.id, rec.netns_path)
        await asyncio.to_thread(sb.release, rec)
        await asyncio.to_thread(podcgroup.remove, self.cgroup_parent, rec.id)
        self._sandboxes.pop(rec.id, None)

    async def _attach_network(self, rec: sb.SandboxRecord) -> None:
        if rec.config.host_network:
            rec.ip = self.node_ip
            return
        if self._network is None:
            rec.ip = ""  # loopback only
            return
        try:
            # `lo` came up with the namespace (sandbox.create_namespaces): no loopback plugin run.
            rec.ip = await self._network.add(rec.id, rec.netns_path, "eth0", list(rec.config.port_mappings),
                                             rec.config.name, rec.config.namespace, loopback=False)
        except Exception as exc:
            raise SandboxError(f"pod network setup failed: {exc}") from exc

    async def stop_pod_sandbox(self, sandbox_id: str, timeout: float = 0.0) -> None:
        await self._settle_network(sandbox_id)
        rec = self._sandboxes.get(sandbox_id)
        if rec is None:
            return
        members = [c.id for c in self._containers.values() if c.sandbox_id == sandbox_id]
        await asyncio.gather(*(self.stop_container(cid, timeout) for cid in members))
        if self._network is not None and not rec.config.host_network:
            try:
                await self._network.delete(rec.id, rec.netns_path)
            except Exception as exc:  # retried by remove_pod_sandbox
                log.warning("pod network teardown failed: %s", exc, extra={"sandbox": sandbox_id})
        rec.ready = False
        rec.save()

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self._settle_network(sandbox_id)
        rec = self._sandboxes.get(sandbox_id)
        if rec is None:
            return
        await self.stop_pod_sandbox(sandbox_id, 0.0)
        for cid in [c.id for c in self._containers.values() if c.sandbox_id == sandbox_id]:
            await self.remove_container(cid)
        if self._network is not None and not rec.config.host_network:
            try:
                await self._network.delete(rec.id, rec.netns_path)
            except Exception as exc:
                raise SandboxError(f"pod network teardown failed: {exc}") from exc
        await asyncio.to_thread(sb.release, rec)
        await asyncio.to_thread(podcgroup.remove, self.cgroup_parent, sandbox_id)
        for path in (rec.config.log_directory, rec.config.work_directory):
            await asyncio.to_thread(sb.rmtree_same_fs, path)
        del self._sandboxes[sandbox_id]
        if not any(r.config.uid == rec.config.uid for r in self._sandboxes.values()):
            self._sandbox_locks.pop(rec.config.uid, None)
        log.info("pod sandbox removed", extra={"sandbox": sandbox_id})

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        return self._sandbox_status(self._sandbox(sandbox_id))

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        return [self._sandbox_status(r) for r in self._sandboxes.values()]

    def _sandbox_status(self, rec: sb.SandboxRecord) -> SandboxStatus:
        c = rec.config
        return SandboxStatus(id=rec.id, ip=rec.ip, netns_path=rec.netns_path, ready=rec.ready, name=c.name,
                             namespace=c.namespace, uid=c.uid)

    def _sandbox(self, sandbox_id: str) -> sb.SandboxRecord:
        rec = self._sandboxes.get(sandbox_id)
        if rec is None:
            raise ContainerNotFound(f"pod sandbox {sandbox_id} not found")
        return rec

    # -- containers ------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        rec = self._sandbox(sandbox_id)
        if not config.log_path:
            raise CreateContainerError(f"container {config.name!r}: no log path")
        try:
            image = await self._images(config.image)
        except RuntimeFailure:
            raise
        except Exception as exc:
            raise CreateContainerError(f"image {config.image!r} is not available: {exc}") from exc
        argv = bundle.merge_argv(config.command, config.args, image_process(image))
        if not argv or not argv[0]:
            raise CreateContainerError(
                f"container {config.name!r} has no command: set `command`/`args` (the image has no ENTRYPOINT/CMD)"
            )
        cid = secrets.token_hex(16)
        cdir = self.state_dir / "containers" / cid
        cdir.mkdir(parents=True)
        status = ContainerStatus(
            id=cid, sandbox_id=sandbox_id, name=config.name, image=config.image, attempt=config.attempt,
            state=ContainerState.CREATED, created_at=time.time(), log_path=rec.config.log_directory / config.log_path,
        )
        c = ContainerRecord(cid, cdir, status)
        t0 = time.monotonic()
        try:
            c.save()
            await asyncio.to_thread(self._prepare_bundle, c, rec, config, image, argv)
        except Exception as exc:
            await asyncio.to_thread(self._discard, c)
            if isinstance(exc, RuntimeFailure):
                raise
            raise CreateContainerError(f"container {config.name!r}: {exc}") from exc
        self._containers[cid] = c
        bundle_ms = _ms(time.monotonic() - t0)
        await self._create_process(c)
        log.debug("container created", extra={"container": config.name, "id": cid, "bundle_ms": bundle_ms,
                                              "create_ms": c.create_ms})
        return cid

    def _prepare_bundle(self, c: ContainerRecord, rec: sb.SandboxRecord, config: ContainerConfig, image: ImageLike,
                        argv: list[str]) -> None:
        """Rootfs + config.json (runs in a thread: mounts and file I/O)."""
        for m in config.mounts:
            if not Path(m.host_path).exists():
                raise CreateContainerError(f"mount source {m.host_path!r} for {m.container_path!r} does not exist")
            if not m.container_path.startswith("/"):
                raise CreateContainerError(f"mount path {m.container_path!r} must be absolute")
        sec = config.security
        try:
            secctx.verify_non_root(sec, image.config.user, config.name, config.pod_ref)
        except secctx.SecurityConfigError as exc:
            raise CreateContainerConfigError(str(exc)) from exc
        localhost = (secctx.load_localhost_profile(self.seccomp_dir, sec.seccomp_localhost)
                     if sec.seccomp == "Localhost" and not sec.privileged else None)
        rootfs = c.dir / "rootfs"
        overlay.mount_overlay(list(image.layer_dirs), c.dir / "upper", c.dir / "work", rootfs)
        try:
            uid, gid, extra = bundle.resolve_user(
                image.config.user, config.security, image_file(rootfs, "etc/passwd"),
                image_file(rootfs, "etc/group"),
            )
        except bundle.UserError as exc:
            raise CreateContainerError(str(exc)) from exc
        wanted = {m.container_path.rstrip("/") for m in config.mounts}
        pod_files = [Mount(str(rec.dir / f), f"/etc/{f}") for f in ("hosts", "hostname", "resolv.conf")
                     if f"/etc/{f}" not in wanted]
        cwd = config.working_dir or image.config.working_dir or "/"
        inputs = bundle.SpecInputs(
            argv=argv,
            env=bundle.merge_env(list(image.config.env), config.env, rec.hostname),
            cwd=cwd if cwd.startswith("/") else "/" + cwd,
            uid=uid, gid=gid, additional_gids=extra,
            cgroups_path=podcgroup.container_path(self.cgroup_parent, rec.id, c.id),
            mounts=[*pod_files, *config.mounts],
            resources=config.resources,
            security=config.security,
            netns_path=rec.netns_path or None,
            ipc_path=str(rec.ipc_path),
            uts_path=str(rec.uts_path) if rec.uts_path else None,
            shm_path=str(rec.shm_path),
            seccomp_localhost=localhost,
            host_devices=secctx.host_devices() if sec.privileged else [],
        )
        # Compact: with `indent` json falls back to its pure-Python encoder, 4-5x slower for a
        # ~10 KB spec on every container start; runc reads it, people can `jq` it.
        (c.dir / "config.json").write_text(json.dumps(bundle.runtime_spec(inputs)))
        (c.dir / "persist").mkdir(exist_ok=True)

    async def _create_process(self, c: ContainerRecord) -> None:
        """conmon runs `runc create` (the process waits in runc init, in the pod's namespaces,
        for `runc start`). This may overlap the pod's CNI ADD: the network namespace exists
        already. A failure is kept for `start_container`, which reports it as a StartError."""
        assert c.status.log_path is not None
        paths = conmon.ConmonPaths(
            bundle=c.dir, container_pidfile=c.dir / "ctr.pid", conmon_pidfile=c.dir / "conmon.pid",
            log_path=c.status.log_path, exit_dir=self._exits.dir, persist_dir=c.dir / "persist",
            socket_dir=self.state_dir / "socks", conmon_log=c.dir / "conmon.log",
        )
        t0 = time.monotonic()
        try:
            c.created_pid = await conmon.spawn(self._conmon, self._runc.binary, self._runc.root, c.id,
                                               c.status.name, paths)
        except (conmon.ConmonError, OSError) as exc:
            with contextlib.suppress(RuncError, OSError):
                await self._runc.delete(c.id)
            c.create_error = str(exc) or type(exc).__name__
        c.create_ms = _ms(time.monotonic() - t0)

    async def start_container(self, container_id: str) -> None:
        """`runc start`, once the pod's network is attached (never a process without it)."""
        c = self._get(container_id)
        if c.status.state is not ContainerState.CREATED:
            raise StartContainerError(f"container {c.status.name!r} was already started")
        if not c.created_pid and not c.create_error:  # re-adopted before its start: create it again
            await self._create_process(c)
        if c.create_error:
            self._fail_start(c, c.create_error)
            raise StartContainerError(c.status.message)
        t0 = time.monotonic()
        try:
            await self.sandbox_network(c.sandbox_id)
            t1 = time.monotonic()
            await self._runc.start(c.id)
        except (RuntimeFailure, RuncError, OSError) as exc:
            with contextlib.suppress(RuncError, OSError):
                await self._runc.delete(c.id)
            self._fail_start(c, str(exc))
            raise StartContainerError(c.status.message) from exc
        c.status = replace(c.status, state=ContainerState.RUNNING, pid=c.created_pid, uri=f"runc://{c.id}",
                           started_at=time.time())
        c.save()
        pod = self._sandboxes.get(c.sandbox_id)
        log.info("container started", extra={"container": c.status.name, "id": c.id, "pid": c.created_pid,
                                             "pod": f"{pod.config.namespace}/{pod.config.name}" if pod else "",
                                             "create_ms": c.create_ms, "network_wait_ms": _ms(t1 - t0),
                                             "start_ms": _ms(time.monotonic() - t1)})
        self._exits.watch(c)

    def _fail_start(self, c: ContainerRecord, message: str) -> None:
        c.status = replace(c.status, state=ContainerState.EXITED, exit_code=128, reason="StartError",
                           message=message, started_at=None, finished_at=time.time())
        c.exited.set()
        with contextlib.suppress(OSError):
            c.save()
        log.warning("container failed to start", extra={"container": c.status.name, "error": message})

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, wait up to `timeout` s, then SIGKILL (sh as PID 1 ignores SIGTERM)."""
        c = self._containers.get(container_id)
        if c is None or c.status.state is not ContainerState.RUNNING:
            return
        if timeout > 0 and await self._runc.kill(c.id, "TERM"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.exited.wait(), timeout)
            if c.exited.is_set():
                return
            log.info("container ignored SIGTERM, killing", extra={"container": c.status.name, "id": c.id})
        await self._runc.kill(c.id, "KILL")
        try:
            await asyncio.wait_for(c.exited.wait(), KILL_WAIT)
        except TimeoutError:
            self._exits.check(c, force=not conmon_alive(c.dir))

    async def remove_container(self, container_id: str) -> None:
        """Kill if needed, `runc delete`, unmount and delete the rootfs, remove cgroup dirs."""
        c = self._containers.get(container_id)
        if c is None:
            return
        await self.stop_container(container_id, 0.0)
        try:
            await self._runc.delete(c.id)
        except RuncError as exc:
            log.warning("runc delete failed: %s", exc, extra={"id": c.id})
        await asyncio.to_thread(self._discard, c)
        self._containers.pop(container_id, None)

    def _discard(self, c: ContainerRecord) -> None:
        cgroup = self._recorded_cgroup(c)
        for mount in sorted(overlay.mounts_under(c.dir), key=len, reverse=True):
            overlay.unmount(Path(mount))
        shutil.rmtree(c.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self._exits.dir / c.id).unlink()
        shutil.rmtree(self.state_dir / "socks" / c.id, ignore_errors=True)
        podcgroup.remove_container(cgroup)  # runc delete leaves cgroup directories behind on cgroup v1

    def _recorded_cgroup(self, c: ContainerRecord) -> str:
        """The container's cgroupsPath as its bundle recorded it (so a layout change never leaks)."""
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            return str(json.loads((c.dir / "config.json").read_text())["linux"]["cgroupsPath"])
        return podcgroup.container_path(self.cgroup_parent, c.sandbox_id, c.id)

    def _remove_orphan_cgroups(self, cid: str) -> None:
        """A runc container nobody owns: its cgroup is at some pod level, or (older layout) none."""
        found = {str(p.relative_to(ctrl)) for ctrl in CGROUP_ROOT.iterdir() if ctrl.is_dir()
                 for p in (ctrl / self.cgroup_parent).glob(f"pod-*/{cid}")}
        for relative in found or {f"{self.cgroup_parent}/{cid}"}:
            podcgroup.remove_container(relative)

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self._get(container_id).status

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [c.status for c in self._containers.values() if sandbox_id is None or c.sandbox_id == sandbox_id]

    def stats_targets(self) -> list[stats.PodCgroups]:
        """Every ready sandbox's pod cgroup and its running containers' cgroups (kubelet/stats.py)."""
        out: list[stats.PodCgroups] = []
        for rec in self._sandboxes.values():
            if not rec.ready:
                continue
            c = rec.config
            containers = [stats.ContainerCgroup(r.status.name, podcgroup.container_path(self.cgroup_parent, rec.id, r.id))
                          for r in self._containers.values()
                          if r.sandbox_id == rec.id and r.status.state == ContainerState.RUNNING]
            out.append(stats.PodCgroups(c.namespace, c.name, c.uid, self.pod_cgroup(rec.id), containers))
        return out

    def container_log_path(self, container_id: str) -> Path:
        path = self._get(container_id).status.log_path
        assert path is not None
        return path

    def attach_socket(self, container_id: str) -> Path:
        """conmon's SOCK_SEQPACKET socket serving the container's stdout/stderr (`kubectl attach`)."""
        return self._get(container_id).dir / "attach"

    def _get(self, container_id: str) -> ContainerRecord:
        c = self._containers.get(container_id)
        if c is None:
            raise ContainerNotFound(f"container {container_id} not found")
        return c

    # -- re-adoption -----------------------------------------------------------------

    async def _readopt(self) -> None:
        """Rebuild sandboxes and containers from the state dir; clean up half-made ones."""
        for d in sorted((self.state_dir / "sandboxes").iterdir()):
            try:
                rec = sb.SandboxRecord.from_json(json.loads((d / "sandbox.json").read_text()), d)
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("removing an unreadable pod sandbox directory", extra={"dir": str(d)})
                await asyncio.to_thread(sb.release, sb.SandboxRecord(d.name, blank_config(), d))
                continue
            if not overlay.is_mountpoint(rec.dir / "ipc"):
                rec.ready = False  # namespaces are gone (reboot): the pod must get a new sandbox
            self._sandboxes[rec.id] = rec
        known = await self._runc.list_all()
        for d in sorted((self.state_dir / "containers").iterdir()):
            try:
                c = ContainerRecord.load(d)
            except (OSError, ValueError, KeyError, TypeError):
                c = None
            if c is None or c.sandbox_id not in self._sandboxes:
                with contextlib.suppress(RuncError):
                    await self._runc.delete(d.name)
                await asyncio.to_thread(self._discard, c or ContainerRecord(d.name, d, blank_status(d.name)))
                continue
            self._containers[c.id] = c
            await self._readopt_container(c, known.get(c.id))
        for orphan in set(known) - set(self._containers):
            log.info("deleting a runc container nobody owns", extra={"id": orphan})
            with contextlib.suppress(RuncError):
                await self._runc.delete(orphan)
            await asyncio.to_thread(self._remove_orphan_cgroups, orphan)
        if self._containers or self._sandboxes:
            log.info("re-adopted runtime state", extra={"sandboxes": len(self._sandboxes),
                                                        "containers": len(self._containers)})

    async def _readopt_container(self, c: ContainerRecord, runc_view: dict[str, Any] | None) -> None:
        state = str((runc_view or {}).get("status", ""))
        if c.status.state is ContainerState.EXITED:
            c.exited.set()
        elif c.status.started_at is None:
            if runc_view is not None:  # died between `runc create` and `runc start`
                with contextlib.suppress(RuncError):
                    await self._runc.delete(c.id)
            c.status = replace(c.status, state=ContainerState.CREATED)
        else:
            c.status = replace(c.status, state=ContainerState.RUNNING, uri=f"runc://{c.id}",
                               pid=int((runc_view or {}).get("pid", 0) or 0))
            # Stopped with conmon still alive: conmon is about to write the exit file.
            self._exits.check(c, force=state != "running" and not conmon_alive(c.dir))
        if c.status.state is ContainerState.CREATED and not overlay.is_mountpoint(c.dir / "rootfs"):
            c.status = replace(c.status, state=ContainerState.EXITED, exit_code=128, reason="StartError",
                               message="rootfs lost while the kubelet was down")
            c.exited.set()

    # -- exec ------------------------------------------------------------------------

    async def _spawn_exec(self, container_id: str, cmd: list[str], tty: bool) -> ProcessExecSession:
        c = self._get(container_id)
        check_exec(c.status, c.status.name, cmd)
        pid_file = self.state_dir / "exec" / f"{c.id}-{secrets.token_hex(6)}.pid"

        def kill_inside() -> None:
            pid = read_pid_file(pid_file)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

        def forget() -> None:
            with contextlib.suppress(OSError):
                pid_file.unlink()

        try:
            return await ProcessExecSession.spawn(self._runc.exec_argv(c.id, cmd, tty, pid_file), tty=tty,
                                                  killer=kill_inside, on_exit=forget)
        except OSError as exc:
            raise ExecError(f"cannot run runc exec: {exc.strerror or exc}") from exc


def _ms(seconds: float) -> float:
    """A duration for the logs (the stages of a pod start, see bench/README.md)."""
    return round(seconds * 1000, 1)

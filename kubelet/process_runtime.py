"""The `process` runtime: every container is a plain host process (no isolation).

Why it exists: it needs neither root nor runc, so laptops and tests can run
real workloads. What it promises, so the rest of the cluster can rely on it:

* each container is the leader of its own session and process group, and its
  containerID is `process://<pid>` -- signalling that group reaches the whole
  container; when the main process ends, what is left of its group is killed
  (like the processes of a container when its PID 1 exits);
* stdout/stderr go to a CRI-format log file through async pumps;
* exit codes are Kubernetes-style (killed by signal n -> 128+n);
* containers never outlive the kubelet: they get PR_SET_PDEATHSIG=SIGKILL
  (through `setpriv`, when the host has it) and `shutdown()` stops them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from kubelet.crilog import LogSink, open_pipe, pump
from kubelet.exec_session import ProcessExecSession, SpawnedExec, check_exec, exit_code_of
from kubelet.runtime import (
    ContainerConfig,
    ContainerNotFound,
    ContainerState,
    ContainerStatus,
    CreateContainerConfigError,
    CreateContainerError,
    ExecError,
    ExitListener,
    PodSandboxConfig,
    SandboxStatus,
    Security,
    StartContainerError,
    notify_exit,
)

log = logging.getLogger(__name__)


def unenforceable(sec: Security) -> list[str]:
    """securityContext fields a host process cannot honour: the container is refused rather
    than run without them (the node's `kubelite.io/isolation: none` says the rest)."""
    asked = [("runAsUser", sec.run_as_user is not None and sec.run_as_user != os.geteuid()),
             ("runAsGroup", sec.run_as_group is not None and sec.run_as_group != os.getegid()),
             ("runAsNonRoot", sec.run_as_non_root and os.geteuid() == 0),
             ("supplementalGroups/fsGroup", bool(sec.supplemental_groups)),
             ("readOnlyRootFilesystem", sec.read_only_root_fs),
             ("allowPrivilegeEscalation", sec.allow_privilege_escalation is False),
             ("capabilities", bool(sec.cap_add or sec.cap_drop)),
             ("seccompProfile", sec.seccomp == "Localhost")]
    return [name for name, wanted in asked if wanted]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PUMP_DRAIN_SECONDS = 2.0


@dataclass
class _Sandbox:
    id: str
    config: PodSandboxConfig
    containers: list[str] = field(default_factory=list)
    ready: bool = True


@dataclass
class _Container:
    id: str
    sandbox: _Sandbox
    config: ContainerConfig
    log_path: Path
    status: ContainerStatus
    proc: asyncio.subprocess.Process | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    waiter: asyncio.Task[None] | None = None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class ProcessRuntime(SpawnedExec):
    """CRI-shaped runtime whose containers are host processes (see module doc)."""

    name = "process"
    version = "0.1.0"
    isolated = False

    def __init__(self, inherit_env: tuple[str, ...] = ("KUBELITE_CLUSTER_DIR",), host_ip: str = "127.0.0.1") -> None:
        # inherit_env: host variables every container gets (the local cluster's marker
        # lets `kubelite down` prove no container process was left behind).
        # host_ip: every pod shares the node's network, so its pod IP is the node IP.
        self.host_ip = host_ip
        self._inherit = {k: os.environ[k] for k in inherit_env if k in os.environ}
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._listeners: list[ExitListener] = []
        self._pdeathsig: list[str] = []

    async def start(self) -> None:
        setpriv = shutil.which("setpriv")
        if setpriv:
            proc = await asyncio.create_subprocess_exec(
                setpriv, "--pdeathsig", "KILL", "--", "true",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            if await proc.wait() == 0:
                self._pdeathsig = [setpriv, "--pdeathsig", "KILL", "--"]
        if not self._pdeathsig:
            log.warning("setpriv --pdeathsig unavailable: containers may outlive a killed kubelet")

    async def shutdown(self, timeout: float) -> None:
        running = [c.id for c in self._containers.values() if c.status.state is ContainerState.RUNNING]
        await asyncio.gather(*(self.stop_container(cid, timeout) for cid in running))

    def add_exit_listener(self, listener: ExitListener) -> None:
        self._listeners.append(listener)

    # -- sandboxes -------------------------------------------------------------

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        sandbox_id = f"{config.namespace}_{config.name}_{config.uid}"
        if sandbox_id not in self._sandboxes:
            config.log_directory.mkdir(parents=True, exist_ok=True)
            config.work_directory.mkdir(parents=True, exist_ok=True)
            self._sandboxes[sandbox_id] = _Sandbox(sandbox_id, config)
        self._sandboxes[sandbox_id].ready = True
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str, timeout: float = 0.0) -> None:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is not None:
            sandbox.ready = False
            await asyncio.gather(*(self.stop_container(cid, timeout) for cid in list(sandbox.containers)))

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        await self.stop_pod_sandbox(sandbox_id, 0.0)
        for cid in list(sandbox.containers):
            await self.remove_container(cid)
        del self._sandboxes[sandbox_id]
        for path in (sandbox.config.log_directory, sandbox.config.work_directory):
            await asyncio.to_thread(shutil.rmtree, path, True)

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            raise ContainerNotFound(f"pod sandbox {sandbox_id} not found")
        return self._sandbox_status(sandbox)

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        """Only this kubelet's sandboxes: host-process containers never outlive it."""
        return [self._sandbox_status(s) for s in self._sandboxes.values()]

    def _sandbox_status(self, sandbox: _Sandbox) -> SandboxStatus:
        cfg = sandbox.config
        return SandboxStatus(
            id=sandbox.id, ip=self.host_ip, netns_path="", ready=sandbox.ready, name=cfg.name,
            namespace=cfg.namespace, uid=cfg.uid,
        )

    # -- containers ------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            raise ContainerNotFound(f"pod sandbox {sandbox_id} not found")
        argv = [*config.command, *config.args]
        if not argv or not argv[0]:
            raise CreateContainerError(
                f"container {config.name!r} has no command: the process runtime has no image "
                "entrypoint, so set `command` (or `args`)"
            )
        if not config.log_path:
            raise CreateContainerError(f"container {config.name!r}: no log path")
        refused = unenforceable(config.security)
        if refused:
            raise CreateContainerConfigError(
                f"container {config.name!r}: the process runtime (no isolation) cannot enforce securityContext "
                f"{', '.join(refused)}; run the pod on a node with the runc runtime")
        cid = secrets.token_hex(8)
        status = ContainerStatus(
            id=cid, sandbox_id=sandbox_id, name=config.name, image=config.image, attempt=config.attempt,
            state=ContainerState.CREATED, created_at=time.time(),
            log_path=sandbox.config.log_directory / config.log_path,
        )
        assert status.log_path is not None
        self._containers[cid] = _Container(cid, sandbox, config, status.log_path, status)
        sandbox.containers.append(cid)
        return cid

    async def start_container(self, container_id: str) -> None:
        c = self._get(container_id)
        if c.status.state is not ContainerState.CREATED:
            raise StartContainerError(f"container {c.config.name!r} was already started")
        # A relative workingDir is taken inside the pod's directory, never the kubelet's cwd.
        cwd = c.sandbox.config.work_directory / c.config.working_dir
        env = self._environment(c)
        try:
            if not cwd.is_dir():
                raise FileNotFoundError(f"working directory {str(cwd)!r} does not exist")
            c.log_path.parent.mkdir(parents=True, exist_ok=True)
            argv = [*c.config.command, *c.config.args]
            self._check_executable(argv[0], env, cwd)
            logfile = open(c.log_path, "ab")  # noqa: SIM115 -- owned by the sink, closed on exit
        except OSError as exc:
            self._fail_start(c, str(exc) if isinstance(exc, FileNotFoundError) else repr(exc))
            raise StartContainerError(c.status.message) from exc
        sink = LogSink(logfile)
        # Own the pipes (rather than stdout=PIPE): asyncio's wait() would also wait for
        # the pipes to close, which a daemonised grandchild can postpone forever.
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._pdeathsig, *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out_w, stderr=err_w,
                cwd=str(cwd), env=env, start_new_session=True,
            )
        except OSError as exc:
            for fd in (out_r, err_r):
                os.close(fd)
            sink.close()
            self._fail_start(c, f"failed to start {argv[0]!r}: {exc.strerror or exc}")
            raise StartContainerError(c.status.message) from exc
        finally:
            os.close(out_w)
            os.close(err_w)
        c.proc = proc
        c.status = replace(
            c.status, state=ContainerState.RUNNING, pid=proc.pid, uri=f"process://{proc.pid}", started_at=time.time()
        )
        readers = [await open_pipe(out_r), await open_pipe(err_r)]
        pumps = [
            asyncio.create_task(pump(readers[0][0], "stdout", sink)),
            asyncio.create_task(pump(readers[1][0], "stderr", sink)),
        ]
        transports = [t for _, t in readers]
        c.waiter = asyncio.create_task(self._wait(c, proc, pumps, transports, sink))
        log.info("container started", extra={"container": c.config.name, "sandbox": c.sandbox.id, "pid": proc.pid})

    def _environment(self, c: _Container) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", DEFAULT_PATH), "HOME": str(c.sandbox.config.work_directory)}
        if c.sandbox.config.hostname:
            env["HOSTNAME"] = c.sandbox.config.hostname
        env.update(self._inherit)
        env.update(c.config.env)
        return env

    def _check_executable(self, program: str, env: dict[str, str], cwd: Path) -> None:
        """Look the executable up now (as exec will, on the container's PATH), so a typo
        is a clear StartError rather than the exit status of the `setpriv` wrapper."""
        if "/" in program:
            exe = cwd / program  # an absolute path stays as it is
            if not (exe.is_file() and os.access(exe, os.X_OK)):
                raise FileNotFoundError(f"executable {program!r} not found or not executable")
        elif shutil.which(program, path=env.get("PATH", DEFAULT_PATH)) is None:
            raise FileNotFoundError(f"executable {program!r} not found in $PATH")

    def _fail_start(self, c: _Container, message: str) -> None:
        now = time.time()
        c.status = replace(
            c.status, state=ContainerState.EXITED, exit_code=128, reason="StartError", message=message,
            started_at=None, finished_at=now,
        )
        c.exited.set()
        log.warning("container failed to start", extra={"container": c.config.name, "error": message})

    async def _wait(
        self,
        c: _Container,
        proc: asyncio.subprocess.Process,
        pumps: list[asyncio.Task[None]],
        transports: list[asyncio.ReadTransport],
        sink: LogSink,
    ) -> None:
        returncode = await proc.wait()
        finished = time.time()
        # The container ends with its main process: reap what is left of its group.
        _signal_group(proc.pid, signal.SIGKILL)
        _done, pending = await asyncio.wait(pumps, timeout=PUMP_DRAIN_SECONDS)
        for task in pending:  # a process that escaped the group still holds the pipe
            task.cancel()
        for transport in transports:
            transport.close()
        sink.close()
        code = exit_code_of(returncode)
        c.status = replace(
            c.status, state=ContainerState.EXITED, exit_code=code, finished_at=finished,
            reason="Completed" if code == 0 else "Error",
        )
        c.exited.set()
        log.info("container exited", extra={"container": c.config.name, "pid": proc.pid, "exit_code": code})
        notify_exit(self._listeners, c.status)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM the container's process group, wait `timeout` s, then SIGKILL it."""
        c = self._containers.get(container_id)
        if c is None or c.proc is None or c.status.state is not ContainerState.RUNNING:
            return
        pid = c.proc.pid
        if timeout > 0:
            _signal_group(pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(c.exited.wait(), timeout)
                return
            except TimeoutError:
                log.info("container ignored SIGTERM, killing", extra={"container": c.config.name, "pid": pid})
        _signal_group(pid, signal.SIGKILL)
        await c.exited.wait()

    async def remove_container(self, container_id: str) -> None:
        """Forget a container (killing it if needed). Its log file stays with the sandbox."""
        c = self._containers.get(container_id)
        if c is None:
            return
        await self.stop_container(container_id, 0.0)
        if c.waiter is not None:
            await c.waiter
        del self._containers[container_id]
        with contextlib.suppress(ValueError):
            c.sandbox.containers.remove(container_id)

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self._get(container_id).status

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [c.status for c in self._containers.values() if sandbox_id is None or c.sandbox.id == sandbox_id]

    def container_log_path(self, container_id: str) -> Path:
        return self._get(container_id).log_path

    # -- exec ------------------------------------------------------------------

    async def _spawn_exec(self, container_id: str, cmd: list[str], tty: bool) -> ProcessExecSession:
        """The command runs as a host process with the container's env and working dir."""
        c = self._get(container_id)
        check_exec(c.status, c.config.name, cmd)
        env = self._environment(c)
        cwd = c.sandbox.config.work_directory / c.config.working_dir
        try:
            self._check_executable(cmd[0], env, cwd)
            return await ProcessExecSession.spawn([*self._pdeathsig, *cmd], env=env, cwd=str(cwd), tty=tty)
        except OSError as exc:
            raise ExecError(f"cannot exec {cmd[0]!r}: {exc.strerror or exc}") from exc

    def _get(self, container_id: str) -> _Container:
        c = self._containers.get(container_id)
        if c is None:
            raise ContainerNotFound(f"container {container_id} not found")
        return c

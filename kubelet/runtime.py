"""The container runtime interface the kubelet drives (shaped like Kubernetes' CRI).

Why an interface: the kubelet's pod logic (ordering, restarts, back-off,
termination, status) must not care whether a container is a bare host process
(`process` runtime, no isolation) or an OCI bundle run by runc. Like CRI, the
kubelet resolves everything Kubernetes-specific (env, downward API, volumes,
resources, log file) into plain `ContainerConfig` values, and the runtime only
reports facts back as `ContainerStatus`. The one thing left to the runtime is
merging `command`/`args` with the image's ENTRYPOINT/CMD, because only the
runtime knows the image config.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


class RuntimeFailure(Exception):
    """Base of runtime failures; `reason` is what the pod status shows (CRI-like)."""

    reason = "RuntimeError"


class CreateContainerError(RuntimeFailure):
    """The container cannot even be created (bad config); retried with back-off."""

    reason = "CreateContainerError"


class CreateContainerConfigError(CreateContainerError):
    """The container's configuration forbids starting it (e.g. runAsNonRoot with a root image);
    the container waits with this reason, as in Kubernetes, until the pod is fixed."""

    reason = "CreateContainerConfigError"


class StartContainerError(RuntimeFailure):
    """Create worked but the process could not be started (e.g. executable not found)."""

    reason = "StartError"


class ContainerNotFound(RuntimeFailure):
    reason = "NotFound"


class SandboxError(RuntimeFailure):
    """The pod sandbox (network namespace, pod network) could not be set up."""

    reason = "CreatePodSandboxError"


class ExecError(RuntimeFailure):
    """An exec could not be started (container not running, runtime failure)."""

    reason = "ExecError"


class ContainerState(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True)
class DnsConfig:
    """The pod's resolv.conf (CRI DNSConfig)."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PortMapping:
    """A `hostPort` of one of the pod's containers (CRI PortMapping)."""

    container_port: int
    host_port: int
    protocol: str = "TCP"  # "TCP" | "UDP" | "SCTP"
    host_ip: str = ""


@dataclass(frozen=True)
class PodSandboxConfig:
    """What a runtime needs to prepare a pod's shared environment."""

    name: str
    namespace: str
    uid: str
    log_directory: Path  # container logs go under here (CRI: log_directory)
    work_directory: Path  # default working directory for the pod's containers (process runtime)
    hostname: str = ""
    dns: DnsConfig | None = None  # None: the node's own resolv.conf
    port_mappings: list[PortMapping] = field(default_factory=list)
    host_network: bool = False  # share the node's network namespace (no CNI)
    host_aliases: list[tuple[str, list[str]]] = field(default_factory=list)  # spec.hostAliases: /etc/hosts lines


@dataclass(frozen=True)
class Mount:
    """A host path (volume directory, file) bind-mounted into the container."""

    host_path: str
    container_path: str
    readonly: bool = False


@dataclass(frozen=True)
class Resources:
    """Resolved `resources` of a container (limits are what cgroups enforce)."""

    cpu_millis_limit: int | None = None
    memory_limit_bytes: int | None = None
    cpu_millis_request: int = 0  # -> cpu.shares


@dataclass(frozen=True)
class Security:
    """The effective `securityContext` of one container (its own values over the pod's).

    Every field is enforced by the runc runtime (see kubelet/runc/security.py); fields
    kubelite cannot enforce are rejected by API validation, so nothing here is advisory.
    """

    run_as_user: int | None = None  # None: the image's USER (else root)
    run_as_group: int | None = None
    run_as_non_root: bool = False
    supplemental_groups: list[int] = field(default_factory=list)  # pod supplementalGroups (+ fsGroup)
    read_only_root_fs: bool = False
    privileged: bool = False
    allow_privilege_escalation: bool | None = None  # None: allowed only if privileged or CAP_SYS_ADMIN
    cap_add: list[str] = field(default_factory=list)  # Kubernetes names ("NET_ADMIN", "ALL")
    cap_drop: list[str] = field(default_factory=list)
    seccomp: str = "RuntimeDefault"  # "RuntimeDefault" | "Unconfined" | "Localhost"
    seccomp_localhost: str = ""  # Localhost: profile path relative to the kubelet's seccomp dir
    host_pid: bool = False  # the pod's hostPID: no PID namespace
    host_ipc: bool = False  # the pod's hostIPC: the node's IPC namespace and /dev/shm


@dataclass(frozen=True)
class ContainerConfig:
    """A container resolved by the kubelet: only the image merge is left to the runtime.

    `command` overrides the image ENTRYPOINT and `args` the image CMD, exactly as
    in the pod spec (already `$(VAR)`-expanded); the process runtime has no image
    and runs `command + args` (an error when both are empty).
    """

    name: str
    image: str
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""  # "" -> the image's WorkingDir (runc) / the sandbox's work directory (process)
    log_path: str = ""  # relative to the sandbox log directory, e.g. "main/0.log"
    attempt: int = 0  # restart count this container instance starts with
    mounts: list[Mount] = field(default_factory=list)
    resources: Resources = field(default_factory=Resources)
    security: Security = field(default_factory=Security)
    pod_ref: str = ""  # "name_namespace(uid)", Kubernetes' format.Pod, for error messages


@dataclass(frozen=True)
class ContainerStatus:
    """A snapshot of one container as the runtime sees it."""

    id: str  # runtime-internal id (opaque to the kubelet)
    sandbox_id: str
    name: str
    image: str
    attempt: int
    state: ContainerState
    uri: str = ""  # the Kubernetes containerID, e.g. "process://1234"; "" before start
    pid: int = 0
    exit_code: int | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    reason: str = ""  # "Completed", "Error", "StartError", "OOMKilled" (exit 137 by the kernel OOM killer)
    message: str = ""
    log_path: Path | None = None  # absolute path of the CRI log file


@dataclass(frozen=True)
class SandboxStatus:
    """A pod sandbox as the runtime sees it (also what re-adoption lists)."""

    id: str
    ip: str  # the pod IP ("" when it has none yet); the node IP with host_network
    netns_path: str  # "" when the sandbox shares the host network (or has no netns)
    ready: bool  # False once stopped
    name: str = ""
    namespace: str = ""
    uid: str = ""


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class ExecSession(Protocol):
    """A streaming exec (kctl exec): stdin in, (fd, bytes) chunks out, an exit code."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None:
        """The client's terminal changed size (tty sessions; ignored otherwise)."""
        ...

    def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(1, stdout bytes) / (2, stderr bytes) chunks until both streams end (tty: only fd 1)."""
        ...

    async def wait(self) -> int:
        """The exit code (128+n when killed by signal n)."""
        ...

    async def kill(self) -> None: ...


@runtime_checkable
class AttachableRuntime(Protocol):
    """A runtime whose containers' stdio can be attached to (runc: conmon's attach socket)."""

    def attach_socket(self, container_id: str) -> Path: ...


ExitListener = Callable[[ContainerStatus], None]
"""Called (on the event loop) each time a container's process exits."""


@runtime_checkable
class StagedSandboxRuntime(Protocol):
    """A runtime whose sandbox network can be attached while the pod's containers are created.

    Why: the network (CNI ADD) and a container's creation (`runc create`) are the two
    longest steps of a pod start and need nothing of each other; only the container's
    *start* must wait, so that its process never runs without its network. The kubelet
    uses this when the runtime offers it, else `run_pod_sandbox` (network included)."""

    async def begin_pod_sandbox(self, config: PodSandboxConfig) -> str:
        """The sandbox with its namespaces (containers may be created in it); its network
        is being attached. `run_pod_sandbox` is this plus `sandbox_network`."""
        ...

    async def sandbox_network(self, sandbox_id: str) -> SandboxStatus:
        """Wait until the sandbox's network is attached; SandboxError if that failed (the
        sandbox and the containers created in it are then gone)."""
        ...


def notify_exit(listeners: Sequence[ExitListener], status: ContainerStatus) -> None:
    """Tell every listener; a listener bug must not stop exit detection (or reaping)."""
    for listener in list(listeners):
        try:
            listener(status)
        except Exception:
            log.exception("exit listener failed")


class Runtime(Protocol):
    """CRI-shaped runtime. All ids are opaque strings issued by the runtime."""

    name: str  # "process", "runc"
    version: str
    isolated: bool  # False: containers share the host (process runtime)

    async def start(self) -> None:
        """Prepare the runtime: state dirs, and re-adopt (runc) or clean up (process)
        what a previous kubelet left behind."""

    async def shutdown(self, timeout: float) -> None:
        """Stop watching containers. The process runtime stops them all (they cannot outlive
        the kubelet); the runc runtime leaves them running for the next kubelet to re-adopt."""

    def add_exit_listener(self, listener: ExitListener) -> None: ...

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str: ...

    async def stop_pod_sandbox(self, sandbox_id: str, timeout: float = 0.0) -> None: ...

    async def remove_pod_sandbox(self, sandbox_id: str) -> None: ...

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus: ...

    async def list_pod_sandboxes(self) -> list[SandboxStatus]: ...

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str: ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, timeout: float) -> None: ...

    async def remove_container(self, container_id: str) -> None: ...

    async def container_status(self, container_id: str) -> ContainerStatus: ...

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    def container_log_path(self, container_id: str) -> Path: ...

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        """Run `cmd` in the container; on timeout kill it and raise TimeoutError."""
        ...

    async def exec_stream(self, container_id: str, cmd: list[str], tty: bool) -> ExecSession: ...

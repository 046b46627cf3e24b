"""The container runtime interface the kubelet drives (shaped like Kubernetes' CRI).

Why an interface: the kubelet's pod logic (ordering, restarts, back-off,
termination, status) must not care whether a container is a bare host process
(`process` runtime, no isolation) or an OCI bundle run by runc. Like CRI, the
kubelet resolves everything Kubernetes-specific (argv, env, downward API,
working directory, log file) into plain `ContainerConfig` values, and the
runtime only reports facts back as `ContainerStatus`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class RuntimeFailure(Exception):
    """Base of runtime failures; `reason` is what the pod status shows (CRI-like)."""

    reason = "RuntimeError"


class CreateContainerError(RuntimeFailure):
    """The container cannot even be created (bad config); retried with back-off."""

    reason = "CreateContainerError"


class StartContainerError(RuntimeFailure):
    """Create worked but the process could not be started (e.g. executable not found)."""

    reason = "StartError"


class ContainerNotFound(RuntimeFailure):
    reason = "NotFound"


class ContainerState(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True)
class PodSandboxConfig:
    """What a runtime needs to prepare a pod's shared environment."""

    name: str
    namespace: str
    uid: str
    log_directory: Path  # container logs go under here (CRI: log_directory)
    work_directory: Path  # default working directory for the pod's containers
    hostname: str = ""


@dataclass(frozen=True)
class ContainerConfig:
    """A container fully resolved by the kubelet: no Kubernetes semantics left."""

    name: str
    image: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""  # "" -> the sandbox's work directory
    log_path: str = ""  # relative to the sandbox log directory, e.g. "main/0.log"
    attempt: int = 0  # restart count this container instance starts with


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
    reason: str = ""  # e.g. "Completed", "Error", "StartError"
    message: str = ""
    log_path: Path | None = None  # absolute path of the CRI log file


ExitListener = Callable[[ContainerStatus], None]
"""Called (on the event loop) each time a container's process exits."""


class Runtime(Protocol):
    """CRI-shaped runtime. All ids are opaque strings issued by the runtime."""

    name: str  # "process", "runc"
    version: str
    isolated: bool  # False: containers share the host (process runtime)

    async def start(self) -> None:
        """Prepare the runtime (state dirs, clean leftovers of a previous kubelet)."""

    async def shutdown(self, timeout: float) -> None:
        """Stop every container (graceful with `timeout`); nothing is left running."""

    def add_exit_listener(self, listener: ExitListener) -> None: ...

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str: ...

    async def stop_pod_sandbox(self, sandbox_id: str, timeout: float = 0.0) -> None: ...

    async def remove_pod_sandbox(self, sandbox_id: str) -> None: ...

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str: ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, timeout: float) -> None: ...

    async def remove_container(self, container_id: str) -> None: ...

    async def container_status(self, container_id: str) -> ContainerStatus: ...

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    def container_log_path(self, container_id: str) -> Path: ...

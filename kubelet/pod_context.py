"""What every pod worker of a kubelet shares, in one value.

Why a module of its own: the worker loop (`pod_sync`), the executor
(`pod_executor`) and the dispatcher (`pod_dispatcher`) all need it, and none of
them should import another just for a type. The clock is here so that no
worker reads `time.time()` itself: tests hand in a fake one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kubelet.backoff import BackOff
from kubelet.image_pulls import ImagePuller
from kubelet.pod_config import DnsHook, default_dns
from kubelet.refs import ClientObjects, ObjectSource
from kubelet.runtime import Runtime, SandboxStatus
from kubelet.tokens import TokenManager
from kubelite.api import Pod
from kubelite.client import ApiClient


class Recorder(Protocol):
    def event(self, obj: Pod, type_: str, reason: str, message: str) -> None: ...


ReadinessHook = Callable[[Pod, str], bool]
"""(pod, container name) -> ready, asked only for running containers (on top of probes), at
each sync: a hook whose answer changes must wake the pod's worker (`PodWorker.wake`)."""

Clock = Callable[[], float]
"""Wall-clock seconds (like time.time()): back-off deadlines and resync waits."""

SYNC_FREQUENCY_SECONDS = 60.0
"""How often a pod whose containers are as planned is synced anyway (Kubernetes' kubelet
`--sync-frequency`, 1 min). Why that long: nothing such a pod waits for needs the period --
container exits (the runtime's exit listeners), probe results, pod and ConfigMap/Secret
changes wake its worker, and back-off, image-pull and token-refresh deadlines are waited for
exactly. The periodic sync is a safety net; a pod with work left (a start that failed, a
volume or sandbox not made yet, a status not written) is retried every `resync_seconds`."""


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
    resync_seconds: float = 1.0  # retry period of a pod whose last sync left work to do
    sync_frequency: float = SYNC_FREQUENCY_SECONDS  # period of a pod whose last sync left nothing to do
    objects: ObjectSource | None = None
    images: ImagePuller = field(default_factory=lambda: ImagePuller(None))
    dns: DnsHook = default_dns
    adopted: dict[str, SandboxStatus] = field(default_factory=dict)  # pod uid -> sandbox of a previous kubelet
    clock: Clock = time.time
    tokens: TokenManager | None = None  # ServiceAccount tokens of projected volumes (None: none served)

    def source(self) -> ObjectSource:
        return self.objects or ClientObjects(self.client)

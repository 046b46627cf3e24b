"""The kubelet assembled: runtime, Kubelet API server, node agent, pod informer
and pod workers, with one start and one stop.

Why a class apart from `main`: integration tests run a whole kubelet
in-process against a test control plane, with the same wiring as the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import grpc

from kubelet.image_pulls import ImageService
from kubelet.localpath import LocalPathVolumes, pods_use
from kubelet.node import LEASE_DURATION_SECONDS, NodeAgent, NodeConfig
from kubelet.overlay.model import VxlanConfig
from kubelet.pod_config import cluster_dns
from kubelet.pod_context import SYNC_FREQUENCY_SECONDS
from kubelet.pod_dispatcher import SHUTDOWN_GRACE_CAP, PodDispatcher
from kubelet.runtime import ContainerState, Runtime
from kubelet.server import KubeletServer
from kubelet.stats import CgroupSource, StatsCollector
from kubelite.api import Pod
from kubelite.client import ApiClient, EventRecorder, Informer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KubeletConfig:
    node_name: str
    node_ip: str
    listen: str  # "IP:PORT" of the Kubelet gRPC API (port 0: any)
    data_dir: Path
    capacity_cpu: str | None = None
    capacity_memory: str | None = None
    resync_seconds: float = 1.0  # a pod whose last sync left work (a failed start, a volume) retries this often
    sync_frequency: float = SYNC_FREQUENCY_SECONDS  # a pod with nothing left to do syncs this often
    node_status_seconds: float = 10.0
    lease_duration_seconds: int = LEASE_DURATION_SECONDS  # renewed every quarter of it
    shutdown_grace_cap: float = SHUTDOWN_GRACE_CAP
    cluster_dns: tuple[str, ...] = ()  # cluster DNS server IPs written into pods' resolv.conf
    cluster_domain: str = "cluster.local"
    # TLS of the kubelet API (None: plaintext) and who may call it (None: anyone who connects)
    tls: grpc.ServerCredentials | None = None
    api_users: frozenset[str] | None = None
    overlay: VxlanConfig | None = None  # the VXLAN pod network (None: host-gw routes)


class Kubelet:
    def __init__(
        self, client: ApiClient, runtime: Runtime, cfg: KubeletConfig, images: ImageService | None = None
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.cfg = cfg
        self.recorder = EventRecorder(client, "kubelet", host=cfg.node_name)
        self.informer: Informer[Pod] = Informer(client, Pod, field_selector=f"spec.nodeName={cfg.node_name}")
        self.pods = PodDispatcher(
            client, runtime, cfg.node_name, cfg.node_ip, cfg.data_dir, recorder=self.recorder,
            resync_seconds=cfg.resync_seconds, sync_frequency=cfg.sync_frequency, images=images,
            dns=cluster_dns(list(cfg.cluster_dns), cfg.cluster_domain),
        )
        self.stats = StatsCollector(cfg.node_name, runtime if isinstance(runtime, CgroupSource) else None)
        self.server = KubeletServer(cfg.listen, cfg.data_dir, self._log_active, exec_backend=self.pods,
                                    credentials=cfg.tls, allowed_users=cfg.api_users, stats=self.stats)
        self.pods.attach(self.informer)
        self.local_paths = LocalPathVolumes(client, cfg.node_name, cfg.data_dir,
                                            in_use=lambda pv: pods_use(self.informer.store.list(), pv))
        self.node: NodeAgent | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start serving; registration and pod sync proceed in the background (and
        keep retrying while the apiserver is unreachable)."""
        self.cfg.data_dir.mkdir(parents=True, exist_ok=True)
        await self.runtime.start()
        await self.server.start()
        self.node = NodeAgent(
            self.client,
            NodeConfig(
                name=self.cfg.node_name, ip=self.cfg.node_ip, kubelet_port=self.server.port,
                runtime_name=self.runtime.name, runtime_version=self.runtime.version,
                isolated=self.runtime.isolated, capacity_cpu=self.cfg.capacity_cpu,
                capacity_memory=self.cfg.capacity_memory, overlay=self.cfg.overlay,
                data_dir=str(self.cfg.data_dir.resolve()),
            ),
            status_interval=self.cfg.node_status_seconds,
            lease_duration=self.cfg.lease_duration_seconds,
        )
        # Sandboxes to re-adopt are known before the first pod arrives, so no worker waits for them.
        await self.pods.load_adopted()
        # Every informer of the kubelet starts here, and nowhere else (the per-object watches of
        # ConfigMaps and Secrets start and stop with the pods using them, see `objectwatch`).
        self._tasks = [
            asyncio.create_task(self.node.run(), name="node-agent"),
            asyncio.create_task(self.informer.run(), name="pod-informer"),
            asyncio.create_task(self.pods.housekeeping(self.informer), name="pod-housekeeping"),
            asyncio.create_task(self.local_paths.run(), name="local-path-volumes"),
            asyncio.create_task(self.stats.run(), name="stats-sampler"),
        ]

    def not_ready(self) -> str | None:
        """Health check: None once the node is registered and the pod cache is synced."""
        if self.node is None or not self.node.registered.is_set():
            return "node not registered yet"
        if not self.informer.has_synced:
            return "pod informer not synced yet"
        return None

    async def wait_ready(self) -> None:
        assert self.node is not None
        await self.node.registered.wait()
        await self.informer.wait_synced()

    async def stop(self) -> None:
        """Stop every container (the process runtime's cannot outlive us), then the rest."""
        for task in self._tasks[1:]:
            task.cancel()  # no new pod/object events or housekeeping while stopping
        await self.pods.shutdown(self.cfg.shutdown_grace_cap)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.pods.objects.stop()
        await self.server.stop(0.5)
        with contextlib.suppress(Exception):
            await self.recorder.close(timeout=1.0)
        log.info("kubelet stopped")

    async def _log_active(self, path: Path) -> bool:
        for status in await self.runtime.list_containers():
            if status.log_path == path:
                return status.state is ContainerState.RUNNING
        return False

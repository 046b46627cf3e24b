"""The node's presence in the API: its Node object, status conditions and Lease.

Why separate from the pods: the scheduler and `kubelite up` only need to know
that the node exists, what it offers and that it is alive; that must keep
working (and recover after an apiserver restart) whatever the pods do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import random
from dataclasses import dataclass
from pathlib import Path

from kubelet.overlay.model import ANNOTATION_BACKEND, BACKEND_HOST_GW, VxlanConfig
from kubelet.overlay.sync import VxlanSync
from kubelet.routes import RouteSync
from kubelite.api import Lease, LeaseSpec, Node, ObjectMeta, OwnerReference, now, now_micro
from kubelite.api.core import (
    DaemonEndpoint,
    NodeAddress,
    NodeCondition,
    NodeDaemonEndpoints,
    NodeStatus,
    NodeSystemInfo,
)
from kubelite.api.errors import AlreadyExists, Conflict, NotFound
from kubelite.api.podutil import transition_time
from kubelite.api.storage import NODE_DATA_DIR_ANNOTATION
from kubelite.client import ApiClient, retry_on_conflict

log = logging.getLogger(__name__)

KUBELET_VERSION = "v0.1.0-kubelite"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
"""The node Lease's duration (Kubernetes' `nodeLeaseDurationSeconds`): how long the Lease says the
node is alive for. The kubelet renews it every `LEASE_RENEW_FRACTION` of it (10 s by default), as
Kubernetes' kubelet does; `kubelite up` with a short `--node-monitor-grace-period` passes that
grace period as the duration, so the renewals stay well inside it."""
LEASE_RENEW_FRACTION = 0.25


def lease_renew_interval(duration_seconds: int) -> float:
    """Seconds between renewals of a node Lease of `duration_seconds`."""
    return duration_seconds * LEASE_RENEW_FRACTION
ANNOTATION_RUNTIME = "kubelite.io/container-runtime"
ANNOTATION_ISOLATION = "kubelite.io/isolation"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class NodeConfig:
    name: str
    ip: str
    kubelet_port: int
    runtime_name: str
    runtime_version: str
    isolated: bool
    capacity_cpu: str | None = None  # overrides os.cpu_count()
    capacity_memory: str | None = None  # overrides /proc/meminfo MemTotal
    # Pods get IPs from the node's podCIDR (CNI): the node is not Ready until it has one, and
    # it keeps routes to the other nodes' podCIDRs. None: the isolated (runc) runtime has one.
    pod_network: bool | None = None
    # The VXLAN overlay between the nodes' pods (None: host-gw routes, which need one L2 segment).
    overlay: VxlanConfig | None = None
    # The kubelet's --data-dir, published so the local-path provisioner can name volume directories there.
    data_dir: str = ""

    @property
    def has_pod_network(self) -> bool:
        return self.isolated if self.pod_network is None else self.pod_network


def host_memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1])}Ki"
    except (OSError, ValueError, IndexError):
        pass
    return "0"


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return "Linux"


def architecture() -> str:
    machine = platform.machine()
    return _ARCH.get(machine, machine)


def build_node(cfg: NodeConfig, extra_annotations: dict[str, str] | None = None) -> Node:
    """The Node object as registered (metadata + spec; status is written separately).

    `extra_annotations`: what the pod network publishes (the VTEP's MAC and public IP).
    """
    annotations = {**(extra_annotations or {}), ANNOTATION_RUNTIME: cfg.runtime_name}
    if not cfg.isolated:
        annotations[ANNOTATION_ISOLATION] = "none"
    if cfg.data_dir:
        annotations[NODE_DATA_DIR_ANNOTATION] = cfg.data_dir
    return Node(
        metadata=ObjectMeta(
            name=cfg.name,
            labels={
                "kubernetes.io/hostname": cfg.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": architecture(),
            },
            annotations=annotations,
        )
    )


def _conditions(cfg: NodeConfig, old: list[NodeCondition], stamp: str, pod_cidr: str | None) -> list[NodeCondition]:
    ready_msg = "kubelet is posting ready status"
    if not cfg.isolated:
        ready_msg += f" ({cfg.runtime_name} runtime: containers are host processes, no isolation)"
    ready = ("Ready", "True", "KubeletReady", ready_msg)
    if cfg.has_pod_network and not pod_cidr:
        ready = ("Ready", "False", "KubeletNotReady",
                 "container runtime network not ready: waiting for the node-IPAM controller "
                 "to assign spec.podCIDR")
    wanted = [
        ready,
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    prev = {c.type: c for c in old}
    out = []
    for type_, status, reason, message in wanted:
        since = transition_time(prev.get(type_), status, stamp)
        out.append(NodeCondition(type=type_, status=status, reason=reason, message=message,
                                 last_heartbeat_time=stamp, last_transition_time=since))
    return out


def node_status(cfg: NodeConfig, old: NodeStatus, stamp: str, pod_cidr: str | None = None) -> NodeStatus:
    cpu = cfg.capacity_cpu or str(os.cpu_count() or 1)
    memory = cfg.capacity_memory or host_memory()
    capacity = {"cpu": cpu, "memory": memory, "pods": "110"}
    status = old.model_copy(deep=True)
    status.capacity = dict(capacity)
    status.allocatable = dict(capacity)
    status.phase = None
    status.conditions = _conditions(cfg, old.conditions, stamp, pod_cidr)
    status.addresses = [NodeAddress(type="InternalIP", address=cfg.ip), NodeAddress(type="Hostname", address=cfg.name)]
    status.daemon_endpoints = NodeDaemonEndpoints(kubelet_endpoint=DaemonEndpoint(port=cfg.kubelet_port))
    status.node_info = NodeSystemInfo(
        machine_id=_read("/etc/machine-id"),
        system_uuid=_read("/sys/class/dmi/id/product_uuid"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
        kernel_version=platform.release(),
        os_image=_os_image(),
        container_runtime_version=f"{cfg.runtime_name}://{cfg.runtime_version}",
        kubelet_version=KUBELET_VERSION,
        kube_proxy_version="",
        operating_system="linux",
        architecture=architecture(),
    )
    return status


def _without_heartbeats(status: NodeStatus) -> dict[str, object]:
    d = status.to_dict()
    for c in d.get("conditions", []):
        c.pop("lastHeartbeatTime", None)
    return d


class NodeAgent:
    """Registers the node, keeps its status current and renews its Lease, forever."""

    def __init__(
        self,
        client: ApiClient,
        cfg: NodeConfig,
        status_interval: float = 10.0,
        report_interval: float = 60.0,
        lease_duration: int = LEASE_DURATION_SECONDS,
    ) -> None:
        self.client = client
        self.cfg = cfg
        self.status_interval = status_interval
        self.report_interval = report_interval
        self.lease_duration = lease_duration
        self.lease_interval = lease_renew_interval(lease_duration)
        self.registered = asyncio.Event()
        self.pod_cidr: str | None = None
        self._pod_cidr_known = asyncio.Event()
        # Routes to the other nodes' pods, for nodes whose pods are on a pod network: host-gw routes,
        # or the VXLAN overlay (then RouteSync keeps only the Service range route, and shares its Node informer).
        self.routes = (RouteSync(client, cfg.name, cfg.ip, pod_routes=cfg.overlay is None)
                       if cfg.has_pod_network else None)
        self.overlay = (VxlanSync(self.routes.informer, cfg.name, cfg.ip, cfg.overlay, lambda: self.pod_cidr)
                        if self.routes is not None and cfg.overlay is not None else None)
        self._node_uid = ""
        self._lease: Lease | None = None
        self._last_report = 0.0

    async def run(self) -> None:
        loops = [self._status_loop(), self._lease_loop(), self._pod_cidr_loop()]
        if self.routes is not None:
            loops.append(self.routes.run())
        if self.overlay is not None:
            loops.append(self.overlay.run())
        await asyncio.gather(*loops)

    # -- podCIDR ------------------------------------------------------------------

    async def wait_pod_cidr(self) -> str:
        """The node's podCIDR, waiting (as long as it takes) until the node-IPAM controller set it.

        Networked pods are only created after this returns: a pod IP needs the range.
        """
        await self._pod_cidr_known.wait()
        assert self.pod_cidr is not None
        return self.pod_cidr

    def _learn_pod_cidr(self, node: Node) -> bool:
        """Take spec.podCIDR from the Node; True the first time it is seen."""
        cidr = node.spec.pod_cidr or (node.spec.pod_cidrs[0] if node.spec.pod_cidrs else None)
        if not cidr or cidr == self.pod_cidr:
            return False
        if self.pod_cidr is not None:
            # spec.podCIDR is immutable; a different one means the Node was re-created.
            log.warning("node podCIDR changed; keeping the first one until the kubelet restarts",
                        extra={"node": self.cfg.name, "podCIDR": self.pod_cidr, "new": cidr})
            return False
        self.pod_cidr = cidr
        self._pod_cidr_known.set()
        log.info("node podCIDR assigned", extra={"node": self.cfg.name, "podCIDR": cidr})
        return True

    async def _pod_cidr_loop(self) -> None:
        """Poll our Node quickly until it has a podCIDR (assigned moments after registration),
        then report the node Ready at once instead of at the next status interval."""
        delay = 0.1
        while not self._pod_cidr_known.is_set():
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)
            if not self.registered.is_set():
                continue
            try:
                node = await self.client.get(Node, self.cfg.name, "")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("reading the node for its podCIDR failed: %s", exc, extra={"node": self.cfg.name})
                continue
            if self._learn_pod_cidr(node) and self.cfg.has_pod_network:
                try:
                    await self._write_status(node, force=True)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("node status update failed: %s", exc, extra={"node": self.cfg.name})

    async def _status_loop(self) -> None:
        delay = 0.2
        while True:
            try:
                if not self.registered.is_set():
                    await self.register()
                else:
                    await self.update_status()
                delay = 0.2
                await asyncio.sleep(self.status_interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # apiserver down or restarting: keep trying
                log.warning("node status update failed: %s", exc, extra={"node": self.cfg.name})
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, 5.0)

    async def register(self) -> None:
        """Create the Node, or adopt an existing one (labels/annotations merged), then write status."""
        # The VTEP exists before the Node does, so no peer ever sees a vxlan Node without its MAC; a
        # host-gw node says so, so that peers drop it from their overlay if it switched back.
        if self.overlay is not None:
            extra: dict[str, str] | None = await self.overlay.setup()
        else:
            extra = {ANNOTATION_BACKEND: BACKEND_HOST_GW} if self.cfg.has_pod_network else None
        wanted = build_node(self.cfg, extra)
        try:
            node = await self.client.create(wanted)
            log.info("node registered", extra={"node": self.cfg.name})
        except AlreadyExists:
            node = await self.client.get(Node, self.cfg.name, "")
            merged_labels = {**node.metadata.labels, **wanted.metadata.labels}
            merged_ann = {**node.metadata.annotations, **wanted.metadata.annotations}
            if merged_labels != node.metadata.labels or merged_ann != node.metadata.annotations:
                node.metadata.labels, node.metadata.annotations = merged_labels, merged_ann
                node = await self.client.update(node)
            log.info("node already registered; updated", extra={"node": self.cfg.name})
        self._node_uid = node.metadata.uid or ""
        self._learn_pod_cidr(node)
        await self._write_status(node, force=True)
        self.registered.set()

    async def update_status(self) -> None:
        try:
            node = await self._current_node()
        except NotFound:
            log.warning("node object vanished; registering again", extra={"node": self.cfg.name})
            self.registered.clear()
            await self.register()
            return
        self._node_uid = node.metadata.uid or ""
        self._learn_pod_cidr(node)
        await self._write_status(node, force=False)

    async def _current_node(self) -> Node:
        """Our Node as the routes' Node informer holds it, or a Get without that informer (no pod
        network) or before it has the Node.

        Why: the status pass compares what it would report with what the Node says every
        `status_interval`, and on an idle cluster nothing differs; reading the watched copy
        costs no request (a Get is a linearizable kvstore read), and still sees a condition the
        node-lifecycle controller changed. A stale copy only makes the write conflict and re-read.
        """
        informer = self.routes.informer if self.routes is not None else None
        if informer is not None and informer.has_synced:
            cached = informer.store.get(self.cfg.name)
            if cached is not None:
                return cached
        return await self.client.get(Node, self.cfg.name, "")

    async def _write_status(self, node: Node, force: bool) -> None:
        loop = asyncio.get_running_loop()
        current = node

        async def attempt() -> None:
            nonlocal current
            new = node_status(self.cfg, current.status, now(), self.pod_cidr)
            due = loop.time() - self._last_report >= self.report_interval
            if not force and not due and _without_heartbeats(new) == _without_heartbeats(current.status):
                return
            current = current.model_copy(update={"status": new})  # never edit the informer's copy
            try:
                await self.client.update_status(current)
            except Conflict:
                current = await self.client.get(Node, self.cfg.name, "")
                raise
            self._last_report = loop.time()

        with contextlib.suppress(Conflict):  # still contended: the next status pass writes again
            await retry_on_conflict(attempt)

    # -- lease --------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        await self.registered.wait()
        while True:
            try:
                await self.renew_lease()
                await asyncio.sleep(self.lease_interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lease = None
                log.warning("lease renewal failed: %s", exc, extra={"node": self.cfg.name})
                await asyncio.sleep(min(1.0, self.lease_interval))

    async def renew_lease(self) -> None:
        name = self.cfg.name
        lease = self._lease
        if lease is None:
            try:
                lease = await self.client.get(Lease, name, LEASE_NAMESPACE)
            except NotFound:
                stamp = now_micro()
                owner = [OwnerReference(api_version="v1", kind="Node", name=name, uid=self._node_uid)]
                self._lease = await self.client.create(Lease(
                    metadata=ObjectMeta(name=name, namespace=LEASE_NAMESPACE,
                                        owner_references=owner if self._node_uid else []),
                    spec=LeaseSpec(holder_identity=name, lease_duration_seconds=self.lease_duration,
                                   acquire_time=stamp, renew_time=stamp),
                ))
                return
        lease.spec.holder_identity = name
        lease.spec.lease_duration_seconds = self.lease_duration
        lease.spec.renew_time = now_micro()
        try:
            self._lease = await self.client.update(lease)
        except (Conflict, NotFound):
            self._lease = None
            raise


"""ControllerManager: the chosen controllers over one set of shared informers.

Why a class apart from `main`: tests run the very same assembly in-process
against a real apiserver, and the daemon adds only flags, logs, health and
signals around it.

Start order matters: informers first, workers only once every cache has
synced. A ReplicaSet reconciled against a half-filled pod cache would create
pods that already exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from controllers.base import Controller, ControllerContext
from controllers.bootstraptoken.cleaner import TokenCleaner
from controllers.bootstraptoken.signer import BootstrapSigner
from controllers.certificates.approver import CSRApprovingController
from controllers.certificates.cleaner import CSRCleaner
from controllers.certificates.signer import CSRSigningController
from controllers.certificates.signplan import SigningCA
from controllers.cronjob.controller import CronJobController
from controllers.daemonset.controller import DaemonSetController
from controllers.deployment.controller import DeploymentController
from controllers.disruption.controller import DisruptionController
from controllers.endpoints.controller import EndpointsController
from controllers.garbagecollector.controller import GarbageCollector
from controllers.hpa.controller import DEFAULT_SYNC_SECONDS, HorizontalPodAutoscalerController
from controllers.informers import InformerFactory
from controllers.job.controller import JobController
from controllers.namespace.controller import NamespaceController
from controllers.nodeipam.controller import NodeIpamController
from controllers.nodelifecycle.controller import NodeLifecycleController
from controllers.persistentvolume.controller import PersistentVolumeController
from controllers.replicaset.controller import ReplicaSetController
from controllers.resourcequota.controller import ResourceQuotaController
from controllers.rootcacertpublisher.controller import RootCACertPublisher
from controllers.serviceaccount.controller import ServiceAccountsController
from controllers.servicelb.controller import ServiceLBController
from controllers.statefulset.controller import StatefulSetController
from kubelite.client import ApiClient, EventRecorder
from kubelite.daemon import Metrics

log = logging.getLogger(__name__)

ALIASES = {
    "rs": "replicaset", "replicaset": "replicaset", "replicasets": "replicaset",
    "deploy": "deployment", "deployment": "deployment", "deployments": "deployment",
    "gc": "garbagecollector", "garbagecollector": "garbagecollector", "garbage-collector": "garbagecollector",
    "ipam": "nodeipam", "nodeipam": "nodeipam", "node-ipam": "nodeipam",
    "endpoints": "endpoints", "ep": "endpoints",
    "nodelifecycle": "nodelifecycle", "node-lifecycle": "nodelifecycle", "lifecycle": "nodelifecycle",
    "ds": "daemonset", "daemonset": "daemonset", "daemonsets": "daemonset",
    "sts": "statefulset", "statefulset": "statefulset", "statefulsets": "statefulset",
    "job": "job", "jobs": "job",
    "cj": "cronjob", "cronjob": "cronjob", "cronjobs": "cronjob",
    "ns": "namespace", "namespace": "namespace", "namespaces": "namespace",
    "sa": "serviceaccount", "serviceaccount": "serviceaccount", "serviceaccounts": "serviceaccount",
    "root-ca-cert-publisher": "root-ca-cert-publisher", "rootca": "root-ca-cert-publisher",
    "tokencleaner": "tokencleaner", "bootstrapsigner": "bootstrapsigner",
    "csrapproving": "csrapproving", "csrsigning": "csrsigning", "csrcleaner": "csrcleaner",
    "resourcequota": "resourcequota", "quota": "resourcequota",
    "pv": "persistentvolume", "persistentvolume": "persistentvolume", "persistentvolume-binder": "persistentvolume",
    "pdb": "disruption", "disruption": "disruption",
    "hpa": "horizontalpodautoscaling", "horizontalpodautoscaling": "horizontalpodautoscaling",
}
ALL_CONTROLLERS = ("replicaset", "deployment", "garbagecollector", "nodeipam", "nodelifecycle", "endpoints",
                   "daemonset", "statefulset", "job", "cronjob", "namespace", "serviceaccount",
                   "root-ca-cert-publisher", "tokencleaner", "bootstrapsigner",
                   "csrapproving", "csrsigning", "csrcleaner", "resourcequota",
                   "persistentvolume", "disruption", "servicelb", "horizontalpodautoscaling")


def _missing(name: str) -> Controller:
    raise ValueError(f"controller {name} needs settings that were not given")


def parse_controllers(text: str) -> list[str]:
    """"rs,deploy,gc" (or "*") -> canonical names; ValueError names the unknown one."""
    out: list[str] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        if part in ("*", "all"):
            return list(ALL_CONTROLLERS)
        name = ALIASES.get(part)
        if name is None:
            raise ValueError(f"unknown controller {part!r} (known: rs, deploy, gc, ipam, nodelifecycle, endpoints, ds, sts, job, cj, ns, sa, root-ca-cert-publisher, tokencleaner, bootstrapsigner, csrapproving, csrsigning, csrcleaner, quota, pv, pdb, hpa)")
        if name not in out:
            out.append(name)
    return out


class ControllerManager:
    def __init__(
        self,
        client: ApiClient,
        controllers: Iterable[str] = ALL_CONTROLLERS,
        workers: int = 2,
        metrics: Metrics | None = None,
        resync_seconds: float = 0,
        node_monitor_grace_period: float = 40.0,
        node_monitor_period: float = 5.0,
        root_ca: str = "",
        signing_ca: SigningCA | None = None,
        lb_pool: list[str] | None = None,
        hpa_sync_seconds: float = DEFAULT_SYNC_SECONDS,
    ) -> None:
        """`root_ca`: the cluster CA (PEM) to publish as ConfigMap kube-root-ca.crt; empty: publish nothing
        (the root-ca-cert-publisher is then skipped, as Kubernetes skips it without --root-ca-file)."""
        self.client = client
        self.metrics = metrics or Metrics()
        self.factory = InformerFactory(client, resync_seconds=resync_seconds)
        self.recorder = EventRecorder(client, "controller-manager")
        ctx = ControllerContext(client, self.factory, self.recorder, workers, self.metrics)
        names = set(controllers)
        builders: dict[str, Callable[[], Controller]] = {
            "replicaset": lambda: ReplicaSetController(ctx),
            "deployment": lambda: DeploymentController(ctx),
            "garbagecollector": lambda: GarbageCollector(ctx),
            "nodeipam": lambda: NodeIpamController(ctx),
            "endpoints": lambda: EndpointsController(ctx),
            "nodelifecycle": lambda: NodeLifecycleController(
                ctx, grace_period=node_monitor_grace_period, monitor_period=node_monitor_period),
            "daemonset": lambda: DaemonSetController(ctx),
            "statefulset": lambda: StatefulSetController(ctx),
            "job": lambda: JobController(ctx),
            "cronjob": lambda: CronJobController(ctx),
            "namespace": lambda: NamespaceController(ctx),
            "serviceaccount": lambda: ServiceAccountsController(ctx),
            "root-ca-cert-publisher": lambda: RootCACertPublisher(ctx, root_ca),
            "tokencleaner": lambda: TokenCleaner(ctx),
            "bootstrapsigner": lambda: BootstrapSigner(ctx),
            "csrapproving": lambda: CSRApprovingController(ctx),
            "csrsigning": lambda: CSRSigningController(ctx, signing_ca) if signing_ca else _missing("csrsigning"),
            "csrcleaner": lambda: CSRCleaner(ctx),
            "resourcequota": lambda: ResourceQuotaController(ctx),
            "persistentvolume": lambda: PersistentVolumeController(ctx),
            "disruption": lambda: DisruptionController(ctx),
            "servicelb": lambda: ServiceLBController(ctx, lb_pool or []),
            "horizontalpodautoscaling": lambda: HorizontalPodAutoscalerController(ctx, hpa_sync_seconds),
        }
        if not lb_pool:  # `lb_pool`: addresses for LoadBalancer Services (--lb-pool); none: they stay pending
            names.discard("servicelb")
        if not root_ca:
            names.discard("root-ca-cert-publisher")
        if signing_ca is None:  # `signing_ca`: the cluster CA that signs approved kubelet client CSRs
            names.discard("csrsigning")
        # Built in this fixed order, whatever order the flag named them in.
        self.controllers: list[Controller] = [build() for name, build in builders.items() if name in names]
        self._started = False

    def get(self, name: str) -> Controller:
        return next(c for c in self.controllers if c.name == name)

    def ready_check(self) -> str | None:
        """For /readyz: None once every informer listed and the workers run."""
        missing = self.factory.not_synced()
        if missing:
            return "informers not synced: " + ",".join(missing)
        if not self._started:
            return "workers not started"
        return None

    async def start(self) -> None:
        """Run the informers, wait (as long as it takes) for their first list, start workers."""
        self.factory.start()
        await self.factory.wait_synced()
        for controller in self.controllers:
            controller.start()
        self._started = True
        log.info("controllers started", extra={"controllers": [c.name for c in self.controllers]})

    async def run(self) -> None:
        """Start, act until cancelled (leadership lost or shutdown), then stop: a `Leader` for `serve_elected`."""
        try:
            await self.start()
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop queues, finish in-flight reconciles, then stop informers and flush events."""
        await asyncio.gather(*(c.stop(timeout) for c in self.controllers))
        await self.factory.stop()
        await self.recorder.close(timeout=2.0)
        self._started = False

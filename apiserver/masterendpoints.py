"""The `default/kubernetes` Service and its Endpoints: how pods find the API.

Why the apiserver writes them itself (Kubernetes' master endpoint reconciler):
the Service has no selector -- the apiserver is not a pod -- so no controller
could know its address. At start and every `interval` seconds the apiserver
makes sure the Service exists (ClusterIP 10.96.0.1, port 443 `https` -> its
own port) and that its advertise address is in the Endpoints; addresses of
other apiservers are kept. On a graceful stop it takes its own address out, so
clients are not sent to a server that is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from apiserver import storage
from kubelite.api.errors import AlreadyExists, ApiError, Conflict, NotFound

if TYPE_CHECKING:
    from apiserver.service import ResourceService

log = logging.getLogger(__name__)

SERVICE_NAME = "kubernetes"
SERVICE_NAMESPACE = "default"
DEFAULT_SERVICE_IP = "10.96.0.1"
SERVICE_PORT = 443
RECONCILE_INTERVAL = 10.0


def service_body(cluster_ip: str, target_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVICE_NAME, "namespace": SERVICE_NAMESPACE,
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": SERVICE_PORT, "protocol": "TCP", "targetPort": target_port}]},
    }


def merged_subsets(subsets: list[dict[str, Any]], ip: str, port: int, *, present: bool) -> list[dict[str, Any]]:
    """The Endpoints subsets with `ip` (on `port`) added (`present`) or removed; other addresses kept."""
    ips = []
    for subset in subsets:
        for address in subset.get("addresses", []):
            if address.get("ip") and address["ip"] not in ips:
                ips.append(address["ip"])
    ips = [i for i in ips if i != ip] + ([ip] if present else [])
    if not ips:
        return []
    return [{"addresses": [{"ip": i} for i in sorted(ips)],
             "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]


class MasterEndpointReconciler:
    def __init__(self, service: ResourceService, advertise_ip: str, port: int, *,
                 cluster_ip: str = DEFAULT_SERVICE_IP, interval: float = RECONCILE_INTERVAL) -> None:
        self._service = service
        self.ip = advertise_ip
        self.port = port
        self.cluster_ip = cluster_ip
        self.interval = interval

    async def ensure_service(self) -> None:
        try:
            await self._service.create("services", SERVICE_NAMESPACE,
                                       storage.dump(service_body(self.cluster_ip, self.port)))
            log.info("created the kubernetes service", extra={"clusterIP": self.cluster_ip})
        except AlreadyExists:
            pass

    async def set_endpoint(self, present: bool) -> None:
        """Add (or remove) this apiserver's address in `default/kubernetes` Endpoints."""
        for _ in range(5):
            try:
                raw = await self._service.get("endpoints", SERVICE_NAMESPACE, SERVICE_NAME)
            except NotFound:
                raw = None
            if raw is None:
                if not present:
                    return
                body = {"apiVersion": "v1", "kind": "Endpoints",
                        "metadata": {"name": SERVICE_NAME, "namespace": SERVICE_NAMESPACE,
                                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                        "subsets": merged_subsets([], self.ip, self.port, present=True)}
                try:
                    await self._service.create("endpoints", SERVICE_NAMESPACE, storage.dump(body))
                    return
                except AlreadyExists:
                    continue
            current = json.loads(raw)
            subsets = merged_subsets(current.get("subsets", []), self.ip, self.port, present=present)
            if subsets == current.get("subsets", []):
                return
            current["subsets"] = subsets
            try:
                await self._service.update("endpoints", SERVICE_NAMESPACE, SERVICE_NAME, storage.dump(current))
                return
            except (Conflict, NotFound):
                continue

    async def reconcile(self) -> None:
        if self.in_place():
            return
        await self.ensure_service()
        await self.set_endpoint(True)

    def in_place(self) -> bool:
        """True when the synced watch caches already hold the Service and this apiserver's address
        in its Endpoints.

        Why: on an idle cluster every pass found both in place, yet cost a create attempt (a
        kvstore transaction, i.e. a Raft round, refused as AlreadyExists) and a kvstore read
        every `interval`. A cache that lags only sends a pass to the store; one that missed a
        change right now is corrected at the next pass.
        """
        services, endpoints = self._service.caches["services"], self._service.caches["endpoints"]
        if not (services.ready.is_set() and endpoints.ready.is_set()):
            return False
        if services.get(storage.object_key("services", SERVICE_NAMESPACE, SERVICE_NAME)) is None:
            return False
        cached = endpoints.get(storage.object_key("endpoints", SERVICE_NAMESPACE, SERVICE_NAME))
        if cached is None:
            return False
        subsets = cached.obj.get("subsets", [])
        return bool(merged_subsets(subsets, self.ip, self.port, present=True) == subsets)

    async def run(self) -> None:
        """Reconcile now and every `interval` seconds until cancelled (store outages are retried)."""
        while True:
            try:
                await self.reconcile()
            except ApiError as exc:
                log.info("kubernetes service reconcile deferred", extra={"error": str(exc)})
            await asyncio.sleep(self.interval)

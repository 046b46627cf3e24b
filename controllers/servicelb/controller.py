"""servicelb controller: a pool address in `status.loadBalancer.ingress` of every LoadBalancer Service.

Why in the controller-manager: allocation must be decided once for the
cluster (one leader, one view of which addresses are taken); making the
address answer is per node and lives in the proxy (it DNATs the address to
the endpoints on every node, and the one node chosen for it adds the address
to its interface, so it answers ARP on the host bridge like MetalLB's L2 mode).

An address is released when its Service is deleted (the object and its status
are gone) or stops being a LoadBalancer (the status is cleared here).
"""

from __future__ import annotations

import asyncio
import logging

from controllers.base import Controller, ControllerContext
from controllers.servicelb.pool import pick
from kubelite.api import Service
from kubelite.api.core import LoadBalancerIngress
from kubelite.api.errors import NotFound
from kubelite.client import Informer

log = logging.getLogger(__name__)


def _pool_ips(svc: Service, pool: set[str]) -> list[str]:
    return [i.ip for i in svc.status.load_balancer.ingress if i.ip and i.ip in pool]


class ServiceLBController(Controller):
    name = "servicelb"
    single_worker = True  # allocation is one decision over the whole pool

    def __init__(self, ctx: ControllerContext, pool: list[str]) -> None:
        super().__init__(ctx)
        self.recorder = self.own_recorder()
        self.pool = pool
        self._pool_set = set(pool)
        self.services: Informer[Service] = ctx.factory.informer(Service)
        self.services.add_handlers(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new),
                                   on_delete=self._deleted)
        self._assigned: dict[str, str] = {}  # service key -> address, including writes the cache has not seen
        self._lock = asyncio.Lock()

    def _deleted(self, svc: Service) -> None:
        self._assigned.pop(f"{svc.metadata.namespace}/{svc.metadata.name}", None)

    def _used(self, key: str) -> set[str]:
        used = {ip for other in self.services.store.list()
                if f"{other.metadata.namespace}/{other.metadata.name}" != key
                for ip in _pool_ips(other, self._pool_set)}
        return used | {ip for k, ip in self._assigned.items() if k != key}

    async def reconcile(self, key: str) -> None:
        async with self._lock:  # two workers must never pick the same free address
            svc = self.services.store.get(key)
            if svc is None:
                self._assigned.pop(key, None)
                return
            current = _pool_ips(svc, self._pool_set)
            if svc.spec.type != "LoadBalancer":
                self._assigned.pop(key, None)
                if current:
                    await self._write(svc, None)
                    log.info("released load balancer address", extra={"service": key, "address": current[0]})
                return
            if current:
                self._assigned[key] = current[0]
                return
            ip = pick(self.pool, self._used(key), svc.spec.load_balancer_ip or None)
            if ip is None:
                wanted = svc.spec.load_balancer_ip
                why = (f"spec.loadBalancerIP {wanted} is not a free address of the pool" if wanted
                       else f"no free address in the pool ({len(self.pool)} addresses)")
                self.recorder.event(svc, "Warning", "AllocationFailed", why)
                return
            self._assigned[key] = ip
            await self._write(svc, ip)
            self.recorder.event(svc, "Normal", "IPAllocated", f"Assigned IP {ip}")
            log.info("allocated load balancer address", extra={"service": key, "address": ip})

    async def _write(self, svc: Service, ip: str | None) -> None:
        updated = svc.copy_deep()
        updated.status.load_balancer.ingress = [LoadBalancerIngress(ip=ip, ip_mode="VIP")] if ip else []
        try:
            await self.client.update_status(updated)
        except NotFound:
            return

"""The nginx ingress agent of one node: informers -> nginxplan -> Nginx, plus Ingress status and events.

Why a node agent (one per node, in the node's network namespace, like the
proxy) rather than a pod: nginx must listen on the node's own IP ports 80/443
and reach pod IPs directly; the node namespace has both, and running it as a
host process needs no image, no hostNetwork and no privileged pod. Every node
serves every Ingress, so each agent adds its node IP to the Ingress status
(`status.loadBalancer.ingress`) and never removes another node's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from kubelite.api.core import Endpoints, LoadBalancerIngress, Secret, Service
from kubelite.api.errors import ApiError
from kubelite.api.ingress import DEFAULT_CLASS_ANNOTATION, NGINX_CONTROLLER, Ingress, IngressClass
from kubelite.client import ApiClient, Informer
from kubelite.client.events import EventRecorder
from kubelite.ingress.nginx import Nginx, worker_user
from kubelite.ingress.nginxplan import Paths, plan, render
from kubelite.proxy.syncrunner import SyncRunner

log = logging.getLogger("ingress")


@dataclass(frozen=True)
class AgentConfig:
    node_name: str
    node_ip: str
    paths: Paths
    http_port: int = 80
    https_port: int = 443


class IngressAgent:
    def __init__(self, client: ApiClient, config: AgentConfig, nginx: Nginx | None = None) -> None:
        self.client = client
        self.config = config
        self.nginx = nginx or Nginx(config.paths)
        self.events = EventRecorder(client, "ingress-nginx", config.node_name)
        self.ingresses: Informer[Ingress] = Informer(client, Ingress)
        self.classes: Informer[IngressClass] = Informer(client, IngressClass)
        self.services: Informer[Service] = Informer(client, Service)
        self.endpoints: Informer[Endpoints] = Informer(client, Endpoints)
        self.secrets: Informer[Secret] = Informer(client, Secret)
        self.informers: list[Informer[Any]] = [self.ingresses, self.classes, self.services, self.endpoints,
                                               self.secrets]
        for inf in self.informers:
            inf.add_handlers(on_add=self._changed, on_update=self._updated, on_delete=self._changed)
        self.runner = SyncRunner(self._sync, max_interval=30.0)
        self.synced_once = False
        self._reported: set[tuple[str, str, str, str]] = set()

    def _changed(self, _obj: object = None) -> None:
        self.runner.request()

    def _updated(self, _old: object, _new: object) -> None:
        self.runner.request()

    def ready_check(self) -> str | None:
        return None if self.synced_once else "first nginx configuration not applied yet"

    def _classes(self) -> tuple[list[str], str | None]:
        ours = [c for c in self.classes.store.list() if c.spec.controller == NGINX_CONTROLLER]
        default = next((c.metadata.name for c in sorted(ours, key=lambda c: c.metadata.name or "")
                        if (c.metadata.annotations or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"), None)
        return [c.metadata.name or "" for c in ours], default

    async def _sync(self, periodic: bool) -> None:
        served, default = self._classes()
        ingresses = self.ingresses.store.list()
        p = plan(ingresses, self.services.store.list(), self.endpoints.store.list(), self.secrets.store.list(),
                 served, default)
        text = render(p, self.config.paths, [self.config.node_ip], self.config.http_port, self.config.https_port,
                      worker_user())
        changed = await self.nginx.apply(text, p.certs)
        if changed:
            log.info("nginx configuration applied", extra={"ingresses": len(p.served), "servers": len(p.servers),
                                                           "upstreams": len(p.upstreams)})
        self.synced_once = True
        by_key = {(i.metadata.namespace or "", i.metadata.name or ""): i for i in ingresses}
        reported: set[tuple[str, str, str, str]] = set()
        for pr in p.problems:
            key = (pr.namespace, pr.name, pr.reason, pr.message)
            reported.add(key)
            ing = by_key.get((pr.namespace, pr.name))
            if ing is not None and key not in self._reported:
                self.events.event(ing, "Warning", pr.reason, pr.message)
        self._reported = reported
        for served_key in p.served:
            ing = by_key.get(served_key)
            if ing is not None:
                await self._publish_address(ing)

    async def _publish_address(self, ing: Ingress) -> None:
        """Add this node's IP to the Ingress status (other nodes add theirs); a conflict retries soon."""
        current = [i.ip for i in ing.status.load_balancer.ingress if i.ip]
        if self.config.node_ip in current:
            return
        ips = sorted({*current, self.config.node_ip})
        ing = ing.model_copy(deep=True)
        ing.status.load_balancer.ingress = [LoadBalancerIngress(ip=ip) for ip in ips]
        try:
            await self.client.update_status(ing)
        except ApiError as exc:
            log.info("ingress status not written; retrying", extra={"ingress": ing.metadata.name,
                                                                    "error": str(exc)})
            asyncio.get_running_loop().call_later(0.5, self.runner.request)

    async def run(self) -> None:
        tasks = [asyncio.create_task(inf.run(), name=f"ingress-{inf.cls.__name__}") for inf in self.informers]
        try:
            await asyncio.gather(*(inf.wait_synced() for inf in self.informers))
            self.nginx.prepare()
            self.runner.request()
            await self.runner.run()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        self.runner.stop()
        await self.nginx.stop()
        await self.events.close()

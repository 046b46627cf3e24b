"""Proxier: Services + Endpoints informers -> rules builder -> RuleSyncer, batched by a SyncRunner.

Why this shape: informer handlers only mark "something changed" (they run on
the watch path and must be cheap); the SyncRunner turns bursts into one sync;
each sync rebuilds the whole rule set from the caches (level-triggered, so a
missed event cannot leave a stale rule) and the planner writes only what
changed. Nothing is written before both informers have listed, so a restarted
proxy never replaces working rules with an empty view of the cluster.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from kubelite.api import Endpoints, Node, Service
from kubelite.client import ApiClient, Informer, meta_namespace_key
from kubelite.daemon import Metrics
from kubelite.proxy.iptables import IptablesLike
from kubelite.proxy.lbaddrs import AddressAnnouncer, owned_here, ready_nodes
from kubelite.proxy.model import Endpoint, ServicePort, ready_endpoints, service_ports
from kubelite.proxy.netpolwatch import NetpolWatch
from kubelite.proxy.rules import RulesBuilder, RulesConfig
from kubelite.proxy.syncer import RuleSyncer
from kubelite.proxy.syncrunner import SyncRunner

log = logging.getLogger("proxy")


@dataclass(frozen=True)
class ProxyConfig:
    node_name: str
    node_ip: str | None = None
    cluster_cidr: str | None = "10.244.0.0/16"
    sync_period: float = 30.0
    min_sync_period: float = 0.0
    full_sync_period: float = 3600.0
    announce_lb: bool = False  # put LoadBalancer addresses this node owns on its interface (needs node_ip)


class Proxier:
    def __init__(self, client: ApiClient, config: ProxyConfig, iptables: IptablesLike,
                 metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.services: Informer[Service] = Informer(client, Service)
        self.endpoints: Informer[Endpoints] = Informer(client, Endpoints)
        self.services.add_handlers(on_add=self._changed, on_update=self._service_updated, on_delete=self._changed)
        self.endpoints.add_handlers(on_add=self._changed, on_update=self._endpoints_updated,
                                    on_delete=self._changed)
        self.netpol = NetpolWatch(client, config.node_name, self._changed)
        self.nodes: Informer[Node] | None = None
        self.announcer: AddressAnnouncer | None = None
        if config.announce_lb and config.node_ip:
            self.nodes = Informer(client, Node)
            self.nodes.add_handlers(on_add=self._changed, on_update=self._node_updated, on_delete=self._changed)
            self.announcer = AddressAnnouncer(config.node_ip)
        self.syncer = RuleSyncer(iptables, config.full_sync_period)
        self.runner = SyncRunner(self._sync, min_interval=config.min_sync_period, max_interval=config.sync_period)
        self.builder = RulesBuilder(RulesConfig(cluster_cidr=config.cluster_cidr or None))
        self.synced_once = False
        self._last_error = ""
        self._last_success = 0.0  # time.monotonic() of the last successful sync
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._memo: dict[tuple[str, str, str], Any] = {}
        self._counts = {"rules": 0.0, "services": 0.0, "endpoints": 0.0, "last_sync": 0.0, "last_duration": 0.0}
        m = self.metrics
        m.gauge("kubeproxy_sync_proxy_rules_iptables_total", lambda: self._counts["rules"],
                "iptables rules the proxy owns (nat and filter)")
        m.gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds", lambda: self._counts["last_sync"],
                "unix time of the last successful sync")
        m.gauge("kubeproxy_sync_proxy_rules_last_duration_seconds", lambda: self._counts["last_duration"],
                "duration of the last successful sync (build + restore)")
        m.gauge("kubelite_proxy_service_ports", lambda: self._counts["services"], "service ports programmed")
        m.gauge("kubelite_proxy_ready_endpoints", lambda: self._counts["endpoints"],
                "ready endpoints programmed (summed over service ports)")

    # ------------------------------------------------------------- handlers

    def _changed(self, _obj: object = None) -> None:
        self.runner.request()

    def _service_updated(self, old: Service, new: Service) -> None:
        if service_ports(old) != service_ports(new):
            self.runner.request()

    def _node_updated(self, old: Node, new: Node) -> None:
        if ready_nodes([old]) != ready_nodes([new]):
            self.runner.request()

    def _endpoints_updated(self, old: Endpoints, new: Endpoints) -> None:
        if old.subsets != new.subsets:
            self.runner.request()

    # ---------------------------------------------------------------- running

    def ready_check(self) -> str | None:
        """For /readyz: ready once the first sync has succeeded, until syncs keep failing for long.

        Like kube-proxy's health check: rules that can no longer be updated are
        served but stale, and a node whose proxy is stuck should say so.
        """
        if self.synced_once:
            stale_after = max(2 * self.config.sync_period, 60.0)
            age = time.monotonic() - self._last_success
            if self._last_error and age > stale_after:
                return f"no successful sync for {age:.0f}s: {self._last_error}"
            return None
        if not (self.services.has_synced and self.endpoints.has_synced and self.netpol.has_synced):
            return "waiting for the Services, Endpoints, Pods, Namespaces and NetworkPolicies informers to list"
        return f"first sync not done yet{': ' + self._last_error if self._last_error else ''}"

    async def run(self) -> None:
        """List+watch and sync until cancelled or `stop()`ped."""
        self._tasks = [asyncio.create_task(self.services.run(), name="proxy-services-informer"),
                       asyncio.create_task(self.endpoints.run(), name="proxy-endpoints-informer"),
                       *(asyncio.create_task(i.run(), name=f"proxy-netpol-informer-{n}")
                         for n, i in enumerate(self.netpol.informers))]
        if self.nodes is not None:
            self._tasks.append(asyncio.create_task(self.nodes.run(), name="proxy-nodes-informer"))
        synced: asyncio.Future[Any] = asyncio.ensure_future(
            asyncio.gather(self.services.wait_synced(), self.endpoints.wait_synced(), self.netpol.wait_synced()))
        stopping: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({synced, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if self._stopping.is_set():
                return  # stopped before the first list: nothing was written, nothing to finish
            log.info("informers synced", extra={"services": len(self.services.store),
                                                "endpoints": len(self.endpoints.store)})
            self.runner.request()
            await self.runner.run()
        finally:
            synced.cancel()
            stopping.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self) -> None:
        """Graceful stop: the sync in progress finishes; the rules stay in the kernel (like kube-proxy)."""
        self._stopping.set()
        self.runner.stop()

    def current_ports(self) -> list[tuple[ServicePort, list[Endpoint]]]:
        """Every service port with its ready endpoints, from the informer caches.

        Memoized by (object key, resourceVersion): at 1,000 services a sync after
        one change re-reads one Service/Endpoints pair, not all of them.
        """
        ports: list[tuple[ServicePort, list[Endpoint]]] = []
        memo: dict[tuple[str, str, str], Any] = {}
        for svc in self.services.store.list():
            key = meta_namespace_key(svc)
            eps = self.endpoints.store.get(key)
            svc_memo = ("svc", key, svc.metadata.resource_version or "")
            eps_memo = ("eps", key, eps.metadata.resource_version or "" if eps is not None else "-")
            sps = self._memo.get(svc_memo) if svc_memo[2] else None
            if sps is None:
                sps = service_ports(svc)
            memo[svc_memo] = sps
            for sp in sps:
                ep_key = (eps_memo[0] + sp.key + sp.protocol, key, eps_memo[2])
                ready = self._memo.get(ep_key) if eps_memo[2] else None
                if ready is None:
                    ready = ready_endpoints(sp, eps)
                memo[ep_key] = ready
                ports.append((sp, ready))
        self._memo = memo
        return ports

    async def _sync(self, periodic: bool) -> None:
        t0 = time.perf_counter()
        ports = self.current_ports()
        rules = self.builder.build(ports)
        policy = self.netpol.add_to(rules, self.services.store, self.endpoints.store)
        built = time.perf_counter()
        m = self.metrics
        try:
            result = await self.syncer.apply(rules, verify_jumps=periodic)
        except Exception as exc:
            self._last_error = str(exc)
            m.inc("kubeproxy_sync_proxy_rules_iptables_restore_failures_total", help_text="failed syncs")
            raise
        if self.announcer is not None and self.nodes is not None:
            lb_ips = {ip for sp, _ in ports for ip in sp.lb_ips}
            await self.announcer.sync(owned_here(lb_ips, ready_nodes(self.nodes.store.list()),
                                                 self.config.node_name))
        duration = time.perf_counter() - t0
        self._last_error = ""
        self._last_success = time.monotonic()
        self._counts.update(rules=float(rules.rule_count()), services=float(len(ports)),
                            endpoints=float(sum(len(eps) for _, eps in ports)), last_sync=time.time(),
                            last_duration=duration)
        mode = "full" if result.full else ("partial" if not result.plan.empty else "unchanged")
        m.inc("kubeproxy_sync_proxy_rules_duration_seconds_sum", duration,
              "total seconds spent in syncs (with _count: the mean)")
        m.inc("kubeproxy_sync_proxy_rules_duration_seconds_count", 1.0, "syncs done")
        m.inc("kubelite_proxy_syncs_total", 1.0, "syncs by kind", mode=mode)
        m.inc("kubelite_proxy_restore_bytes_total", float(result.restore_bytes), "bytes fed to iptables-restore")
        if not self.synced_once:
            self.synced_once = True
            log.info("first sync done; proxy is ready", extra={"node": self.config.node_name})
        if not result.plan.empty or periodic:
            log.info("synced rules", extra={
                "mode": mode, "periodic": periodic, "service_ports": len(ports), "rules": rules.rule_count(),
                "chains_written": result.plan.written, "chains_deleted": result.plan.deleted,
                "transactions": len(result.plan.transactions), "policy_isolated_ingress": policy.isolated_ingress,
                "policy_isolated_egress": policy.isolated_egress, "restore_bytes": result.restore_bytes,
                "build_ms": round((built - t0) * 1000, 1), "restore_ms": round(result.restore_seconds * 1000, 1),
                "total_ms": round(duration * 1000, 1)})

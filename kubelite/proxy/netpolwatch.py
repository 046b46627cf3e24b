"""NetpolWatch: the Pod, Namespace and NetworkPolicy informers that feed the policy compiler.

Why inside the proxy process (a second input of its one sync loop) rather than
a separate agent: the proxy already runs on every node in the node's network
namespace, owns the filter table there, and has the SyncRunner that turns a
burst of changes into one sync within milliseconds; one syncer for both rule
sets means one planner, one restore per sync and one `--cleanup`. Handlers only
request a sync when something the compiler reads changed (a pod's IP, labels,
node or named ports; a namespace's labels; any policy), so pod status churn
(readiness, restarts) costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubelite.api import Endpoints, Namespace, Pod, Service
from kubelite.api.networking import NetworkPolicy
from kubelite.client import ApiClient, Informer, Store
from kubelite.proxy.netpol import NetpolInput, NetpolRules, compile_policies, pod_record
from kubelite.proxy.rules import FILTER, RuleSet

DNS_SERVICE_KEY = "kube-system/kube-dns"


class NetpolWatch:
    def __init__(self, client: ApiClient, changed: Callable[[], None]) -> None:
        self._changed = changed
        self.pods: Informer[Pod] = Informer(client, Pod)
        self.namespaces: Informer[Namespace] = Informer(client, Namespace)
        self.policies: Informer[NetworkPolicy] = Informer(client, NetworkPolicy)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_added)
        self.namespaces.add_handlers(on_add=self._any, on_update=self._ns_updated, on_delete=self._any)
        self.policies.add_handlers(on_add=self._any, on_update=self._any_update, on_delete=self._any)
        self.last = NetpolRules()

    @property
    def informers(self) -> list[Informer[Any]]:
        return [self.pods, self.namespaces, self.policies]

    @property
    def has_synced(self) -> bool:
        return all(i.has_synced for i in self.informers)

    async def wait_synced(self) -> None:
        await asyncio.gather(*(i.wait_synced() for i in self.informers))

    def _any(self, _obj: object = None) -> None:
        self._changed()

    def _any_update(self, _old: object, _new: object) -> None:
        self._changed()

    def _pod_added(self, pod: Pod) -> None:
        if pod_record(pod) is not None:
            self._changed()

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if pod_record(old) != pod_record(new):
            self._changed()

    def _ns_updated(self, old: Namespace, new: Namespace) -> None:
        if old.metadata.labels != new.metadata.labels:
            self._changed()

    def add_to(self, rules: RuleSet, node_name: str, services: Store[Service],
                  endpoints: Store[Endpoints]) -> NetpolRules:
        """Compile the policies for `node_name` and add their chains to the proxy's rule set."""
        records = [r for r in (pod_record(p) for p in self.pods.store.list()) if r is not None]
        inp = NetpolInput(
            policies=self.policies.store.list(), pods=records,
            namespace_labels={ns.metadata.name or "": dict(ns.metadata.labels or {})
                              for ns in self.namespaces.store.list()},
            node_name=node_name, dns_ips=dns_ips(services, endpoints))
        compiled = compile_policies(inp)
        for chain, chain_rules in compiled.chains.items():
            rules.chains[(FILTER, chain)] = chain_rules
        self.last = compiled
        return compiled


def dns_ips(services: Store[Service], endpoints: Store[Endpoints]) -> list[str]:
    """The cluster DNS: its Service's cluster IP and every address behind it (what a pod's
    resolv.conf points at, before and after the Service DNAT)."""
    out: list[str] = []
    svc = services.get(DNS_SERVICE_KEY)
    if svc is not None and svc.spec.cluster_ip and svc.spec.cluster_ip != "None":
        out.append(svc.spec.cluster_ip)
    eps = endpoints.get(DNS_SERVICE_KEY)
    if eps is not None:
        out += [a.ip for subset in eps.subsets for a in subset.addresses if a.ip]
    return out

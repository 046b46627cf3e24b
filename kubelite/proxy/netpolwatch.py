"""NetpolWatch: the Pod, Namespace and NetworkPolicy informers that feed the policy compiler.

Why inside the proxy process (a second input of its one sync loop) rather than
a separate agent: the proxy already runs on every node in the node's network
namespace, owns the filter table there, and has the SyncRunner that turns a
burst of changes into one sync within milliseconds; one syncer for both rule
sets means one planner, one restore per sync and one `--cleanup`. Handlers only
request a sync when something the compiler reads changed (a pod's IP, labels,
node or named ports; a namespace's labels; any policy), so pod status churn
(readiness, restarts) costs nothing; and a pod's change requests one only if
some policy can read that pod (`PolicyReach`), so pods started where no policy
looks (all of them, in a cluster without NetworkPolicies) cost no sync either.
Each pod's record is made once per event and kept, so a sync reads the kept
records instead of flattening every cached pod again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubelite.api import Endpoints, Namespace, Pod, Service
from kubelite.api.networking import NetworkPolicy
from kubelite.client import ApiClient, Informer, Store, meta_namespace_key
from kubelite.proxy.netpol import NetpolInput, NetpolRules, PodRecord, compile_policies, pod_record
from kubelite.proxy.netpolreach import PolicyReach
from kubelite.proxy.rules import FILTER, RuleSet

DNS_SERVICE_KEY = "kube-system/kube-dns"
WITH_POD_IP = "status.podIP!="


class NetpolWatch:
    def __init__(self, client: ApiClient, node_name: str, changed: Callable[[], None]) -> None:
        self.node_name = node_name
        self._changed = changed
        # Only pods with an IP: the compiler reads no other pod, and a pod start's events before
        # its IP (create, bind) then never reach the proxies (the server sends ADDED when the IP
        # appears and DELETED if it goes): one event per pod start for each proxy instead of three.
        self.pods: Informer[Pod] = Informer(client, Pod, field_selector=WITH_POD_IP)
        self.namespaces: Informer[Namespace] = Informer(client, Namespace)
        self.policies: Informer[NetworkPolicy] = Informer(client, NetworkPolicy)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.namespaces.add_handlers(on_add=self._any, on_update=self._ns_updated, on_delete=self._any)
        self.policies.add_handlers(on_add=self._any, on_update=self._any_update, on_delete=self._any)
        self.records: dict[str, PodRecord] = {}  # pod key -> record, for the pods that have one
        self._reach: PolicyReach | None = None  # None: policies or namespaces changed since it was built
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
        self._reach = None
        self._changed()

    def _any_update(self, _old: object, _new: object) -> None:
        self._any()

    def reach(self) -> PolicyReach:
        """Which pods the policies can read (built on first use after a policy or namespace change)."""
        if self._reach is None:
            self._reach = PolicyReach(self.policies.store.list(), self._namespace_labels(), self.node_name)
        return self._reach

    def _record(self, key: str, new: PodRecord | None) -> None:
        """Keep `new` as the pod's record (None: it has none, or is gone); sync if a policy can tell."""
        old = self.records.pop(key, None)
        if new is not None:
            self.records[key] = new
        if self.reach().affected(old, new):
            self._changed()

    def _pod_added(self, pod: Pod) -> None:
        self._record(meta_namespace_key(pod), pod_record(pod))

    def _pod_updated(self, _old: Pod, new: Pod) -> None:
        self._pod_added(new)

    def _pod_deleted(self, pod: Pod) -> None:
        self._record(meta_namespace_key(pod), None)

    def _ns_updated(self, old: Namespace, new: Namespace) -> None:
        if old.metadata.labels != new.metadata.labels:
            self._any()

    def _namespace_labels(self) -> dict[str, dict[str, str]]:
        return {ns.metadata.name or "": dict(ns.metadata.labels or {}) for ns in self.namespaces.store.list()}

    def add_to(self, rules: RuleSet, services: Store[Service], endpoints: Store[Endpoints]) -> NetpolRules:
        """Compile the policies for this node and add their chains to the proxy's rule set."""
        inp = NetpolInput(
            policies=self.policies.store.list(), pods=list(self.records.values()),
            namespace_labels=self._namespace_labels(), node_name=self.node_name,
            dns_ips=dns_ips(services, endpoints))
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

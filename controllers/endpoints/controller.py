"""Endpoints controller: each Service with a selector gets an Endpoints object
listing its pods' IPs and the resolved target ports.

Why it matters to users: the proxy and the cluster DNS route only to what is
listed here, so the rules are Kubernetes' exactly --
- ready pods go to `addresses`, not-ready ones to `notReadyAddresses`
  (all to `addresses` with `publishNotReadyAddresses`);
- a pod being deleted leaves rotation at once (its deletionTimestamp is set
  before the kubelet stops its containers), so no new connection reaches it;
- a named `targetPort` resolves per pod to that pod's container port of that
  name, and pods resolving to different numbers land in different subsets;
- the object is written only when its content changed.
Event handlers only enqueue `namespace/name` keys of affected Services.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from controllers.informers import NAMESPACE_INDEX
from kubelite.api import (
    EndpointAddress,
    EndpointPort,
    Endpoints,
    EndpointSubset,
    ObjectMeta,
    ObjectReference,
    Pod,
    Service,
)
from kubelite.api.errors import AlreadyExists, NotFound
from kubelite.api.podutil import is_pod_ready, is_pod_terminal
from kubelite.api.selectors import selector_from_labels
from kubelite.client import Informer

log = logging.getLogger(__name__)


def resolve_port(pod: Pod, target: int | str | None, port: int) -> int | None:
    """A Service port's targetPort for one pod: a number as is, a name via the pod's container ports."""
    if target is None:
        return port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    for c in pod.spec.containers:
        for p in c.ports:
            if p.name == target:
                return p.container_port
    return None


def desired_subsets(svc: Service, pods: list[Pod]) -> list[EndpointSubset]:
    """The Endpoints subsets for `svc` over the candidate `pods` (already selected by labels)."""
    publish_all = bool(svc.spec.publish_not_ready_addresses)
    groups: dict[tuple[tuple[str, int, str], ...], EndpointSubset] = {}
    for pod in sorted(pods, key=lambda p: p.metadata.name or ""):
        if not pod.status.pod_ip or pod.metadata.deletion_timestamp is not None:
            continue
        if is_pod_terminal(pod):
            continue
        ports = []
        for sp in svc.spec.ports:
            number = resolve_port(pod, sp.target_port, sp.port)
            if number is not None:
                ports.append((sp.name or "", number, sp.protocol or "TCP"))
        if svc.spec.ports and not ports:
            continue
        signature = tuple(ports)
        subset = groups.get(signature)
        if subset is None:
            subset = EndpointSubset(ports=[EndpointPort(name=n or None, port=p, protocol=proto)
                                           for n, p, proto in signature])
            groups[signature] = subset
        address = EndpointAddress(
            ip=pod.status.pod_ip, node_name=pod.spec.node_name,
            hostname=pod.spec.hostname if pod.spec.subdomain == svc.metadata.name else None,
            target_ref=ObjectReference(kind="Pod", namespace=pod.metadata.namespace, name=pod.metadata.name,
                                       uid=pod.metadata.uid))
        if publish_all or is_pod_ready(pod):
            subset.addresses.append(address)
        else:
            subset.not_ready_addresses.append(address)
    return list(groups.values())


class EndpointsController(Controller):
    name = "endpoints"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.services: Informer[Service] = ctx.factory.informer(Service)
        self.pods: Informer[Pod] = ctx.factory.informer(Pod)
        self.endpoints: Informer[Endpoints] = ctx.factory.informer(Endpoints)
        self.services.add_handlers(self.enqueue, lambda _old, new: self.enqueue(new), self.enqueue)
        self.pods.add_handlers(self._pod_changed, self._pod_updated, self._pod_changed)
        self.endpoints.add_handlers(None, lambda _old, new: self.enqueue(new), self.enqueue)

    def _services_selecting(self, pod: Pod) -> list[Service]:
        out = []
        for svc in self.services.store.by_index(NAMESPACE_INDEX, pod.metadata.namespace or "default"):
            if svc.spec.selector and selector_from_labels(svc.spec.selector).matches(pod.metadata.labels):
                out.append(svc)
        return out

    def _pod_changed(self, pod: Pod) -> None:
        for svc in self._services_selecting(pod):
            self.enqueue(svc)

    def _pod_updated(self, old: Pod, new: Pod) -> None:
        if old.metadata.resource_version == new.metadata.resource_version:
            return
        self._pod_changed(new)
        if old.metadata.labels != new.metadata.labels:
            self._pod_changed(old)

    async def reconcile(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        svc = self.services.store.get(key)
        if svc is None or svc.metadata.deletion_timestamp is not None:
            if self.endpoints.store.get(key) is not None:
                try:
                    await self.client.delete(Endpoints, name, namespace)
                except NotFound:
                    pass
            return
        if not svc.spec.selector:
            return  # endpoints managed by the user (a Service without selector)
        matcher = selector_from_labels(svc.spec.selector)
        pods = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, namespace) if matcher.matches(p.metadata.labels)]
        subsets = desired_subsets(svc, pods)
        current = self.endpoints.store.get(key)
        labels = dict(svc.metadata.labels)
        if current is not None:
            if [s.to_dict() for s in current.subsets] == [s.to_dict() for s in subsets] \
                    and current.metadata.labels == labels:
                return
            fresh = current.copy_deep()
            fresh.subsets = subsets
            fresh.metadata.labels = labels
            await self.client.update(fresh)  # Conflict -> requeued with back-off, decided again
            return
        try:
            await self.client.create(Endpoints(metadata=ObjectMeta(name=name, namespace=namespace, labels=labels),
                                               subsets=subsets))
        except AlreadyExists:
            self.enqueue_key(key)  # our cache is behind: decide again once it catches up

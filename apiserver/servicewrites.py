"""Writing Services together with their ClusterIP/NodePort claims (see allocation).

Why apart from the generic write path: a Service write is a multi-key
transaction (the object plus claim keys that must not exist, minus released
ones), and a failed transaction must be told apart -- the object changed
(retry as any conflict), an automatic pick was taken (pick again), or the user
asked for an IP/port someone owns (Invalid, like Kubernetes). `ServiceWriter`
is the Service strategy's `ObjectWriter` (see writes).
"""

from __future__ import annotations

from typing import Any

from apiserver import storage
from apiserver.allocation import AllocationError, Plan, ServiceAllocator, owned_keys
from apiserver.etcd import EtcdClient
from apiserver.storage import StoredObject
from apiserver.writes import Outcome
from kubelite.api import Service
from kubelite.api.errors import InternalError, Invalid, ServiceUnavailable, StatusCause
from kubelite.api.meta import Resource

MAX_PICKS = 16


def _invalid(svc: Service, field_path: str, value: object, message: str) -> Exception:
    return Invalid.for_object("Service", svc.metadata.name, [StatusCause.invalid(field_path, value, message)])


def _service(obj: Resource) -> Service:
    if not isinstance(obj, Service):
        raise InternalError(f"the Service writer was handed a {type(obj).__name__}")
    return obj


class ServiceWriter:
    def __init__(self, etcd: EtcdClient, allocator: ServiceAllocator | None = None) -> None:
        self.etcd = etcd
        self.allocator = allocator or ServiceAllocator()

    def plan(self, svc: Service, old: Service | None) -> Plan:
        try:
            return self.allocator.plan(svc, old)
        except AllocationError as exc:
            raise _invalid(svc, exc.field_path, exc.value, exc.message) from None

    def allocate(self, obj: Resource) -> Plan | None:
        return self.plan(_service(obj), None)

    def _explain_taken(self, svc: Service, plan: Plan, taken: set[str]) -> None:
        for key in sorted(taken):
            if key in plan.explicit:
                field_path, value = plan.explicit[key]
                what = "IP" if field_path == "spec.clusterIP" else "port"
                raise _invalid(svc, field_path, value, f"provided {what} is already allocated")

    async def create(self, key: str, obj: Resource, data: dict[str, Any], plan: Plan | None
                     ) -> tuple[int, dict[str, Any]] | None:
        """Store a new Service with its claims; (revision, content), or None when `key` already exists.

        `data` is `obj` encoded after `allocate`; a taken automatic pick is replaced and re-encoded.
        """
        svc = _service(obj)
        plan = plan if plan is not None else self.plan(svc, None)
        for _ in range(MAX_PICKS):
            ok, rev, existing = await self.etcd.commit(key, storage.encode_value(data), None, plan.claims, [])
            if ok:
                return rev, data
            if key in existing:
                return None
            self._explain_taken(svc, plan, existing)
            self.allocator.repick(svc, existing)
            owner = f"{svc.metadata.namespace}/{svc.metadata.name}".encode()
            plan.claims = {k: owner for k in sorted(owned_keys(svc))}
            data = svc.to_dict()
        raise ServiceUnavailable("could not find a free ClusterIP/NodePort; the ranges may be exhausted")

    async def update(self, key: str, new: Resource, data: dict[str, Any], current: StoredObject) -> Outcome:
        """CAS-write `new` over `current` with claims/releases; a failure means: retry from a fresh read.

        A taken automatic pick also fails: the caller's retry plans again.
        """
        svc = _service(new)
        old = Service.from_dict(current.obj)
        plan = self.plan(svc, old)
        data = svc.to_dict()  # the plan may have filled in the ClusterIP and NodePorts
        ok, rev, existing = await self.etcd.commit(key, storage.encode_value(data), current.rv,
                                                   plan.claims, plan.releases)
        if not ok and key not in existing:
            self._explain_taken(svc, plan, existing - {key})
        return Outcome(ok, rev, data if ok else None)

    async def remove(self, key: str, current: StoredObject) -> Outcome:
        """Delete the Service and release its claims; reports the removed version's revision."""
        svc = Service.from_dict(current.obj)
        ok, _, _ = await self.etcd.commit(key, None, current.rv, {}, sorted(owned_keys(svc)))
        return Outcome(ok, current.rv)

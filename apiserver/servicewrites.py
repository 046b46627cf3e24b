"""Writing Services together with their ClusterIP/NodePort claims (see allocation).

Why apart from the generic write path: a Service write is a multi-key
transaction (the object plus claim keys that must not exist, minus released
ones), and a failed transaction must be told apart -- the object changed
(retry as any conflict), an automatic pick was taken (pick again), or the user
asked for an IP/port someone owns (Invalid, like Kubernetes).
"""

from __future__ import annotations

from apiserver import errors, storage
from apiserver.allocation import AllocationError, Plan, ServiceAllocator, owned_keys
from apiserver.etcd import EtcdClient
from kubelite.api import Service
from kubelite.api.errors import StatusCause

MAX_PICKS = 16


def _invalid(svc: Service, field_path: str, value: object, message: str) -> Exception:
    return errors.invalid("Service", svc.metadata.name, [StatusCause.invalid(field_path, value, message)])


class ServiceWriter:
    def __init__(self, etcd: EtcdClient, allocator: ServiceAllocator | None = None) -> None:
        self.etcd = etcd
        self.allocator = allocator or ServiceAllocator()

    def plan(self, svc: Service, old: Service | None) -> Plan:
        try:
            return self.allocator.plan(svc, old)
        except AllocationError as exc:
            raise _invalid(svc, exc.field_path, exc.value, exc.message) from None

    def _explain_taken(self, svc: Service, plan: Plan, taken: set[str]) -> None:
        for key in sorted(taken):
            if key in plan.explicit:
                field_path, value = plan.explicit[key]
                what = "IP" if field_path == "spec.clusterIP" else "port"
                raise _invalid(svc, field_path, value, f"provided {what} is already allocated")

    async def create(self, key: str, svc: Service, plan: Plan) -> int | None:
        """Store a new Service with its claims; its revision, or None when `key` already exists."""
        for _ in range(MAX_PICKS):
            ok, rev, existing = await self.etcd.commit(key, storage.encode_value(svc.to_dict()), None,
                                                       plan.claims, [])
            if ok:
                return rev
            if key in existing:
                return None
            self._explain_taken(svc, plan, existing)
            self.allocator.repick(svc, existing)
            owner = f"{svc.metadata.namespace}/{svc.metadata.name}".encode()
            plan.claims = {k: owner for k in sorted(owned_keys(svc))}
        raise errors.unavailable("could not find a free ClusterIP/NodePort; the ranges may be exhausted")

    async def update(self, key: str, new: Service, old: Service, rv: int) -> tuple[bool, int]:
        """CAS-write `new` over `old` (at `rv`) with claims/releases; (False, _) = retry from a fresh read.

        A taken automatic pick also answers False: the caller's retry plans again.
        """
        plan = self.plan(new, old)
        ok, rev, existing = await self.etcd.commit(key, storage.encode_value(new.to_dict()), rv,
                                                   plan.claims, plan.releases)
        if not ok and key not in existing:
            self._explain_taken(new, plan, existing - {key})
        return ok, rev

    async def delete(self, key: str, svc: Service, rv: int) -> bool:
        ok, _, _ = await self.etcd.commit(key, None, rv, {}, sorted(owned_keys(svc)))
        return ok

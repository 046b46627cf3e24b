"""How a kind's objects are written to the store: one object key, or an object plus its claims.

Why a seam: most kinds are a single key written with a revision compare, but a
Service owns ClusterIP/NodePort claim keys that must change in the same
transaction (see `servicewrites`). The service's create/update/delete loops are
the same for every kind; only this last step differs, so each kind's strategy
names its writer and the loops never ask which kind they hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from apiserver import storage
from apiserver.allocation import Plan
from apiserver.etcd import EtcdClient, KeyValue, LeaseNotFound, TxnResult
from apiserver.leases import LeaseManager
from apiserver.storage import StoredObject
from kubelite.api.meta import Resource


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one conditional write.

    On success: the revision to report and, when the writer changed the object
    (allocations), the content it stored. On failure: whether the key is gone,
    and the key's current value when the store said so (None: re-read it).
    """

    ok: bool
    revision: int = 0
    data: dict[str, Any] | None = None
    current: KeyValue | None = None
    missing: bool = False

    @classmethod
    def of_txn(cls, result: TxnResult) -> Outcome:
        return cls(result.succeeded, result.revision, None, result.kv, not result.succeeded and result.kv is None)


class ObjectWriter(Protocol):
    def allocate(self, obj: Resource) -> Plan | None:
        """Assign what a new object must own before it is stored (or shown by a dry run)."""
        ...

    async def create(self, key: str, obj: Resource, data: dict[str, Any], plan: Plan | None
                     ) -> tuple[int, dict[str, Any]] | None:
        """Store a new object: (revision, stored content), or None if `key` exists."""
        ...

    async def update(self, key: str, new: Resource, data: dict[str, Any], current: StoredObject) -> Outcome:
        """Compare-and-swap `new` (encoded as `data`) over `current`."""
        ...

    async def remove(self, key: str, current: StoredObject) -> Outcome:
        """Delete `current` if it is still the stored version."""
        ...


class PlainWriter:
    """One key per object, written in a single-compare Txn."""

    def __init__(self, etcd: EtcdClient) -> None:
        self.etcd = etcd

    def allocate(self, obj: Resource) -> Plan | None:
        return None

    async def create(self, key: str, obj: Resource, data: dict[str, Any], plan: Plan | None
                     ) -> tuple[int, dict[str, Any]] | None:
        result = await self.etcd.create(key, storage.encode_value(data))
        return (result.revision, data) if result.succeeded else None

    async def update(self, key: str, new: Resource, data: dict[str, Any], current: StoredObject) -> Outcome:
        return Outcome.of_txn(await self.etcd.update(key, storage.encode_value(data), current.rv))

    async def remove(self, key: str, current: StoredObject) -> Outcome:
        return Outcome.of_txn(await self.etcd.delete(key, current.rv))


class ExpiringWriter(PlainWriter):
    """One key per object, attached to a store lease so that it is deleted `ttl` seconds after
    its last write (Events: the apiserver's `--event-ttl`, as in Kubernetes, where an Event
    is a record of something that happened, not state anyone must delete)."""

    def __init__(self, etcd: EtcdClient, ttl: int, leases: LeaseManager | None = None) -> None:
        super().__init__(etcd)
        self.ttl = ttl
        self.leases = leases or LeaseManager(etcd.grant_lease)

    async def create(self, key: str, obj: Resource, data: dict[str, Any], plan: Plan | None
                     ) -> tuple[int, dict[str, Any]] | None:
        value = storage.encode_value(data)
        result = await self._leased(lambda lease: self.etcd.create(key, value, lease=lease))
        return (result.revision, data) if result.succeeded else None

    async def update(self, key: str, new: Resource, data: dict[str, Any], current: StoredObject) -> Outcome:
        value = storage.encode_value(data)
        return Outcome.of_txn(await self._leased(lambda lease: self.etcd.update(key, value, current.rv, lease=lease)))

    async def _leased(self, write: Callable[[int], Awaitable[TxnResult]]) -> TxnResult:
        """`write` under a lease; once more under a new lease if the store lost the one it named
        (revoked by hand, or a store restored from an older snapshot)."""
        lease = await self.leases.lease_for(self.ttl)
        try:
            return await write(lease)
        except LeaseNotFound:
            self.leases.forget(lease)
            return await write(await self.leases.lease_for(self.ttl))

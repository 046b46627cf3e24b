"""The authorizers' view of the cluster: RBAC objects and pods read from the apiserver's watch caches.

Why the watch caches: an authorization decision runs on every request and
must not cost a store round trip; the caches already hold every object in
memory and follow the store (like Kubernetes' RBAC and Node authorizers, which
read informers). The price is theirs too: a new binding takes effect once the
cache has seen it, a few milliseconds later. Decoded RBAC objects are
memoized by resourceVersion so a request does not re-parse the same roles.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from apiserver import storage
from apiserver.selection import Selection
from apiserver.storage import StoredObject
from apiserver.watchcache import WatchCache
from kubelite.api.errors import ApiError
from kubelite.api.meta import Resource
from kubelite.api.rbac import ClusterRole, ClusterRoleBinding, Role, RoleBinding

R = TypeVar("R", bound=Resource)


class CachePolicy:
    """`PolicySource` over the watch caches of roles, clusterroles, rolebindings, clusterrolebindings."""

    def __init__(self, caches: Mapping[str, WatchCache]) -> None:
        self.caches = caches
        self._decoded: dict[str, tuple[int, Resource | None]] = {}

    def _model(self, cls: type[R], stored: StoredObject) -> R | None:
        memo = self._decoded.get(stored.key)
        if memo is None or memo[0] != stored.rv:
            try:
                model: Resource | None = cls.from_dict(stored.obj)
            except ApiError:
                model = None  # undecodable: grants nothing
            if len(self._decoded) > 4 * (sum(len(c.store) for c in self.caches.values()) + 64):
                self._decoded.clear()
            memo = self._decoded[stored.key] = (stored.rv, model)
        found = memo[1]
        return found if isinstance(found, cls) else None

    def _get(self, cls: type[R], resource: str, namespace: str, name: str) -> R | None:
        stored = self.caches[resource].get(storage.object_key(resource, namespace, name))
        return self._model(cls, stored) if stored is not None else None

    def _all(self, cls: type[R], resource: str, namespace: str = "") -> Iterator[R]:
        items, _ = self.caches[resource].list_objects(Selection(namespace))
        for stored in items:
            model = self._model(cls, stored)
            if model is not None:
                yield model

    def role(self, namespace: str, name: str) -> Role | None:
        return self._get(Role, "roles", namespace, name)

    def cluster_role(self, name: str) -> ClusterRole | None:
        return self._get(ClusterRole, "clusterroles", "", name)

    def cluster_roles(self) -> Iterator[ClusterRole]:
        return self._all(ClusterRole, "clusterroles")

    def role_bindings(self, namespace: str) -> Iterator[RoleBinding]:
        return self._all(RoleBinding, "rolebindings", namespace)

    def cluster_role_bindings(self) -> Iterator[ClusterRoleBinding]:
        return self._all(ClusterRoleBinding, "clusterrolebindings")


class CacheGraph:
    """`NodeGraph` over the pod watch cache (its node index answers "pods on node N")."""

    def __init__(self, caches: Mapping[str, WatchCache]) -> None:
        self.pods = caches["pods"]
        self.volumes = caches["persistentvolumes"]

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        stored = self.pods.get(storage.object_key("pods", namespace, name))
        return stored.obj if stored is not None else None

    def pods_on_node(self, node: str) -> Iterator[dict[str, Any]]:
        items, _ = self.pods.list_objects(Selection("", node_name=node))
        return (stored.obj for stored in items)

    def persistent_volume(self, name: str) -> dict[str, Any] | None:
        stored = self.volumes.get(storage.object_key("persistentvolumes", "", name))
        return stored.obj if stored is not None else None

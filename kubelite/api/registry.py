"""The kind registry: which kinds exist, their resource names, aliases and models.

One table answers every naming question (`kctl get po`, storage keys
`/registry/deployments/...`, decoding `apiVersion: apps/v1, kind: Deployment`),
so the names cannot drift between components.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.api.apps import DaemonSet, Deployment, Job, ReplicaSet, StatefulSet
from kubelite.api.auth import ServiceAccount
from kubelite.api.batch import CronJob
from kubelite.api.core import ConfigMap, Endpoints, Event, Lease, Namespace, Node, Secret, Service
from kubelite.api.errors import REQUIRED, BadRequest, Invalid, NotFound, StatusCause
from kubelite.api.meta import Resource
from kubelite.api.pods import Pod
from kubelite.api.policy import PodDisruptionBudget
from kubelite.api.rbac import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from kubelite.api.storage import PersistentVolume, PersistentVolumeClaim, StorageClass


@dataclass(frozen=True)
class KindInfo:
    kind: str  # "Deployment"
    api_version: str  # "apps/v1"
    group: str  # "apps" ("" for core)
    resource: str  # "deployments" (lowercase plural: URL path and storage key)
    namespaced: bool
    short_names: tuple[str, ...]
    model: type[Resource]

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def list_kind(self) -> str:
        """"PodList": the kind of a List response / `kctl get -o yaml` of many objects."""
        return f"{self.kind}List"

    @property
    def qualified_resource(self) -> str:
        """"deployments.apps" / "pods": how kubectl names the resource in messages."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


def _info(model: type[Resource], resource: str, namespaced: bool, *short: str) -> KindInfo:
    api_version = str(model.model_fields["api_version"].default)
    kind = str(model.model_fields["kind"].default)
    group = api_version.rpartition("/")[0]
    return KindInfo(kind, api_version, group, resource, namespaced, tuple(short), model)


_KINDS: tuple[KindInfo, ...] = (
    _info(Pod, "pods", True, "po"),
    _info(Deployment, "deployments", True, "deploy"),
    _info(ReplicaSet, "replicasets", True, "rs"),
    _info(Service, "services", True, "svc"),
    _info(Endpoints, "endpoints", True, "ep"),
    _info(Node, "nodes", False, "no"),
    _info(Namespace, "namespaces", False, "ns"),
    _info(ConfigMap, "configmaps", True, "cm"),
    _info(Secret, "secrets", True),
    _info(ServiceAccount, "serviceaccounts", True, "sa"),
    _info(Event, "events", True, "ev"),
    _info(Lease, "leases", True),
    _info(DaemonSet, "daemonsets", True, "ds"),
    _info(StatefulSet, "statefulsets", True, "sts"),
    _info(Job, "jobs", True),
    _info(CronJob, "cronjobs", True, "cj"),
    _info(Role, "roles", True),
    _info(ClusterRole, "clusterroles", False),
    _info(RoleBinding, "rolebindings", True),
    _info(ClusterRoleBinding, "clusterrolebindings", False),
    _info(PersistentVolume, "persistentvolumes", False, "pv"),
    _info(PersistentVolumeClaim, "persistentvolumeclaims", True, "pvc"),
    _info(StorageClass, "storageclasses", False, "sc"),
    _info(PodDisruptionBudget, "poddisruptionbudgets", True, "pdb"),
)


def _build_index() -> dict[str, KindInfo]:
    index: dict[str, KindInfo] = {}
    for info in _KINDS:
        names = {info.kind.lower(), info.resource, info.singular, *info.short_names}
        for name in names:
            index[name] = info
            if info.group:
                index[f"{name}.{info.group}"] = info
    return index


_INDEX = _build_index()
_BY_MODEL = {info.model: info for info in _KINDS}
_BY_GVK = {(info.api_version, info.kind): info for info in _KINDS}


def find(name: str) -> KindInfo | None:
    """Like lookup() but None when unknown."""
    return _INDEX.get(name.strip().lower())


def lookup(name: str) -> KindInfo:
    """Resolve "Deployment", "deployments", "deployment", "deploy", "deployments.apps"...

    Raises api.errors.NotFound (kubectl's wording) for an unknown name.
    """
    info = find(name)
    if info is None:
        raise NotFound(f'the server doesn\'t have a resource type "{name}"', kind=name)
    return info


def for_model(cls: type[Resource]) -> KindInfo:
    try:
        return _BY_MODEL[cls]
    except KeyError:
        raise NotFound(f"{cls.__name__} is not a registered kind") from None


def all_kinds() -> list[KindInfo]:
    return list(_KINDS)


def for_gvk(api_version: str, kind: str) -> KindInfo | None:
    """Exact apiVersion+kind match (what a manifest's header names)."""
    return _BY_GVK.get((api_version, kind))


def decode(d: Any) -> Resource:
    """Build the model named by `apiVersion` + `kind`.

    Missing fields -> Invalid (cause field "kind"/"apiVersion"); an unknown kind or a
    kind under the wrong apiVersion -> BadRequest with Kubernetes' wording.
    """
    if not isinstance(d, Mapping):
        raise BadRequest(f"expected an object (a map), got {type(d).__name__}")
    kind, api_version = d.get("kind"), d.get("apiVersion")
    missing = [StatusCause(f, "Required value", REQUIRED) for f, v in (("apiVersion", api_version), ("kind", kind))
               if not v]
    if missing:
        raise Invalid("Object 'Kind' is missing" if not kind else "Object 'apiVersion' is missing", missing)
    if not isinstance(kind, str) or not isinstance(api_version, str):
        bad = "kind" if not isinstance(kind, str) else "apiVersion"
        raise BadRequest(f"{bad} must be a string", [StatusCause(bad, "expected string")])
    info = for_gvk(api_version, kind)
    if info is None:
        message = f'no kind "{kind}" is registered for version "{api_version}"'
        known = find(kind)
        field = "kind"
        if known is not None and known.kind == kind:
            message += f' (did you mean apiVersion "{known.api_version}"?)'
            field = "apiVersion"
        raise BadRequest(message, [StatusCause(field, message)])
    return info.model.from_dict(dict(d))

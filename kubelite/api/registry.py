"""The kind registry: which kinds exist, their resource names, aliases and models.

One table answers every naming question (`kctl get po`, storage keys
`/registry/deployments/...`, decoding `apiVersion: apps/v1, kind: Deployment`),
so the names cannot drift between components.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.apiextensions import CustomResourceDefinition
from kubelite.api.apps import DaemonSet, Deployment, Job, ReplicaSet, StatefulSet
from kubelite.api.auth import ServiceAccount
from kubelite.api.autoscaling import HorizontalPodAutoscaler
from kubelite.api.batch import CronJob
from kubelite.api.certificates import CertificateSigningRequest
from kubelite.api.core import ConfigMap, Endpoints, Event, Lease, Namespace, Node, Secret, Service
from kubelite.api.custom import CustomKind, kind_parts, model_for
from kubelite.api.errors import REQUIRED, BadRequest, Invalid, NotFound, StatusCause
from kubelite.api.hpaconvert import is_v1 as _is_hpa_v1
from kubelite.api.hpaconvert import to_v2 as _hpa_to_v2
from kubelite.api.ingress import Ingress, IngressClass
from kubelite.api.meta import Resource
from kubelite.api.namespacepolicy import LimitRange, ResourceQuota
from kubelite.api.networking import NetworkPolicy
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
    custom: CustomKind | None = field(default=None, compare=False)
    """Set for a kind a CustomResourceDefinition adds (see `register`)."""

    @property
    def storage_name(self) -> str:
        """Where objects live under /registry/: `pods`, or `<group>/<plural>` for custom kinds
        (Kubernetes' layout, so two CRDs with one plural in different groups never share keys)."""
        return f"{self.group}/{self.resource}" if self.custom is not None else self.resource

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
    _info(CertificateSigningRequest, "certificatesigningrequests", False, "csr"),
    _info(CustomResourceDefinition, "customresourcedefinitions", False, "crd", "crds"),
    _info(ResourceQuota, "resourcequotas", True, "quota"),
    _info(LimitRange, "limitranges", True, "limits"),
    _info(PersistentVolume, "persistentvolumes", False, "pv"),
    _info(PersistentVolumeClaim, "persistentvolumeclaims", True, "pvc"),
    _info(StorageClass, "storageclasses", False, "sc"),
    _info(PodDisruptionBudget, "poddisruptionbudgets", True, "pdb"),
    _info(NetworkPolicy, "networkpolicies", True, "netpol"),
    _info(Ingress, "ingresses", True, "ing"),
    _info(IngressClass, "ingressclasses", False),
    _info(HorizontalPodAutoscaler, "horizontalpodautoscalers", True, "hpa"),
)


def _build_index(kinds: tuple[KindInfo, ...] | list[KindInfo], base: dict[str, KindInfo]) -> dict[str, KindInfo]:
    """Every spelling of every kind; names already in `base` (built-in kinds) win."""
    index = dict(base)
    for info in kinds:
        names = {info.kind.lower(), info.resource, info.singular, *info.short_names}
        for name in names:
            index.setdefault(name, info)
            if info.group:
                index.setdefault(f"{name}.{info.group}", info)
    return index


_BUILTIN_INDEX = _build_index(_KINDS, {})
_INDEX = _BUILTIN_INDEX
_BY_MODEL: dict[type[Resource], KindInfo] = {info.model: info for info in _KINDS}
_BY_GVK = {(info.api_version, info.kind): info for info in _KINDS}
_CUSTOM: dict[str, KindInfo] = {}  # by CRD name (`<plural>.<group>`)
_generation = 0


def from_crd(crd: CustomResourceDefinition) -> KindInfo | None:
    """The KindInfo of the kind a CRD adds (None if it serves no version)."""
    parts = kind_parts(crd)
    if parts is None:
        return None
    api_version, kind, plural, namespaced, short, custom = parts
    group = api_version.rpartition("/")[0]
    return KindInfo(kind, api_version, group, plural, namespaced, short, model_for(api_version, kind), custom)


def register(info: KindInfo) -> None:
    """Add (or replace) a custom kind; built-in kinds keep their names when a custom kind reuses one."""
    global _INDEX, _generation
    if info.custom is None:
        raise ValueError(f"{info.kind} is not a custom kind")
    old = _CUSTOM.pop(info.custom.crd_name, None)
    if old is not None:
        _forget(old)
    _CUSTOM[info.custom.crd_name] = info
    _BY_MODEL[info.model] = info
    _BY_GVK.setdefault((info.api_version, info.kind), info)
    _INDEX = _build_index(list(_CUSTOM.values()), _BUILTIN_INDEX)
    _generation += 1


def unregister(crd_name: str, only: KindInfo | None = None) -> KindInfo | None:
    """Remove the custom kind of CRD `crd_name` (only if it is still `only`, when given); the KindInfo
    removed (None if none)."""
    global _INDEX, _generation
    if only is not None and _CUSTOM.get(crd_name) is not only:
        return None
    info = _CUSTOM.pop(crd_name, None)
    if info is not None:
        _forget(info)
        _INDEX = _build_index(list(_CUSTOM.values()), _BUILTIN_INDEX)
        _generation += 1
    return info


def _forget(info: KindInfo) -> None:
    if _BY_MODEL.get(info.model) is info:
        del _BY_MODEL[info.model]
    if _BY_GVK.get((info.api_version, info.kind)) is info:
        del _BY_GVK[(info.api_version, info.kind)]


def custom_kinds() -> list[KindInfo]:
    return list(_CUSTOM.values())


def generation() -> int:
    """Bumped on every change of the custom kinds (lets derived documents know they are stale)."""
    return _generation


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


def builtin_kinds() -> list[KindInfo]:
    """The kinds compiled in (what an apiserver serves before it has read any CRD)."""
    return list(_KINDS)


def all_kinds() -> list[KindInfo]:
    return [*_KINDS, *_CUSTOM.values()] if _CUSTOM else list(_KINDS)


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
    if _is_hpa_v1(d):  # autoscaling/v1 is accepted and stored as v2
        return HorizontalPodAutoscaler.from_dict(_hpa_to_v2(dict(d)))
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

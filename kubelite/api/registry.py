"""The kind registry: which kinds exist, their resource names, aliases and models.

One table answers every naming question (`kctl get po`, storage keys
`/registry/deployments/...`, decoding `apiVersion: apps/v1, kind: Deployment`),
so the names cannot drift between components.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from kubelite.api.errors import REQUIRED, BadRequest, Invalid, NotFound, StatusCause

if TYPE_CHECKING:
    from kubelite.api.apiextensions import CustomResourceDefinition
    from kubelite.api.custom import CustomKind
    from kubelite.api.meta import Resource


@dataclass(frozen=True)
class KindInfo:
    kind: str  # "Deployment"
    api_version: str  # "apps/v1"
    group: str  # "apps" ("" for core)
    resource: str  # "deployments" (lowercase plural: URL path and storage key)
    namespaced: bool
    short_names: tuple[str, ...]
    load_model: Callable[[], type[Resource]] = field(compare=False, repr=False)
    """Returns the model class; built-in kinds import their model module on first use, so
    resolving names (`kctl get po`) builds no pydantic classes."""
    custom: CustomKind | None = field(default=None, compare=False)
    """Set for a kind a CustomResourceDefinition adds (see `register`)."""

    @property
    def model(self) -> type[Resource]:
        return self.load_model()

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


def _info(module: str, kind: str, api_version: str, resource: str, namespaced: bool, *short: str) -> KindInfo:
    """A built-in kind whose model is class `kind` of `kubelite.api.<module>` (its `kind` and
    `apiVersion` defaults are these: tests/unit/api/test_registry.py checks every kind)."""
    group = api_version.rpartition("/")[0]
    return KindInfo(kind, api_version, group, resource, namespaced, tuple(short), _model_loader(module, kind))


def _model_loader(module: str, name: str) -> Callable[[], type[Resource]]:
    @cache
    def load() -> type[Resource]:
        model: type[Resource] = getattr(importlib.import_module(f"kubelite.api.{module}"), name)
        return model
    return load


_KINDS: tuple[KindInfo, ...] = (
    _info("pods", "Pod", "v1", "pods", True, "po"),
    _info("apps", "Deployment", "apps/v1", "deployments", True, "deploy"),
    _info("apps", "ReplicaSet", "apps/v1", "replicasets", True, "rs"),
    _info("core", "Service", "v1", "services", True, "svc"),
    _info("core", "Endpoints", "v1", "endpoints", True, "ep"),
    _info("core", "Node", "v1", "nodes", False, "no"),
    _info("core", "Namespace", "v1", "namespaces", False, "ns"),
    _info("core", "ConfigMap", "v1", "configmaps", True, "cm"),
    _info("core", "Secret", "v1", "secrets", True),
    _info("auth", "ServiceAccount", "v1", "serviceaccounts", True, "sa"),
    _info("core", "Event", "v1", "events", True, "ev"),
    _info("core", "Lease", "coordination.k8s.io/v1", "leases", True),
    _info("apps", "DaemonSet", "apps/v1", "daemonsets", True, "ds"),
    _info("apps", "StatefulSet", "apps/v1", "statefulsets", True, "sts"),
    _info("apps", "Job", "batch/v1", "jobs", True),
    _info("batch", "CronJob", "batch/v1", "cronjobs", True, "cj"),
    _info("rbac", "Role", "rbac.authorization.k8s.io/v1", "roles", True),
    _info("rbac", "ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles", False),
    _info("rbac", "RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", True),
    _info("rbac", "ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    _info("certificates", "CertificateSigningRequest", "certificates.k8s.io/v1", "certificatesigningrequests", False,
          "csr"),
    _info("apiextensions", "CustomResourceDefinition", "apiextensions.k8s.io/v1", "customresourcedefinitions", False,
          "crd", "crds"),
    _info("namespacepolicy", "ResourceQuota", "v1", "resourcequotas", True, "quota"),
    _info("namespacepolicy", "LimitRange", "v1", "limitranges", True, "limits"),
    _info("storage", "PersistentVolume", "v1", "persistentvolumes", False, "pv"),
    _info("storage", "PersistentVolumeClaim", "v1", "persistentvolumeclaims", True, "pvc"),
    _info("storage", "StorageClass", "storage.k8s.io/v1", "storageclasses", False, "sc"),
    _info("policy", "PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", True, "pdb"),
    _info("networking", "NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", True, "netpol"),
    _info("ingress", "Ingress", "networking.k8s.io/v1", "ingresses", True, "ing"),
    _info("ingress", "IngressClass", "networking.k8s.io/v1", "ingressclasses", False),
    _info("autoscaling", "HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers", True, "hpa"),
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
_BY_MODEL: dict[type[Resource], KindInfo] = {}  # custom kinds' models, and built-in ones once looked up
_BY_GVK = {(info.api_version, info.kind): info for info in _KINDS}
_CUSTOM: dict[str, KindInfo] = {}  # by CRD name (`<plural>.<group>`)
_generation = 0


def from_crd(crd: CustomResourceDefinition) -> KindInfo | None:
    """The KindInfo of the kind a CRD adds (None if it serves no version)."""
    from kubelite.api.custom import kind_parts, model_for  # pydantic models: only when a CRD is read

    parts = kind_parts(crd)
    if parts is None:
        return None
    api_version, kind, plural, namespaced, short, custom = parts
    group = api_version.rpartition("/")[0]
    model = model_for(api_version, kind)
    return KindInfo(kind, api_version, group, plural, namespaced, short, lambda: model, custom)


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
    info = _BY_MODEL.get(cls)
    if info is None:
        fields = cls.model_fields
        gvk = (str(fields["api_version"].default), str(fields["kind"].default)) \
            if "api_version" in fields and "kind" in fields else None
        info = _BY_GVK.get(gvk) if gvk is not None else None
        if info is None or info.model is not cls:
            raise NotFound(f"{cls.__name__} is not a registered kind")
        _BY_MODEL[cls] = info
    return info


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
    from kubelite.api import hpaconvert  # models, which decoding builds anyway

    if hpaconvert.is_v1(d):  # autoscaling/v1 is accepted and stored as v2
        return lookup("horizontalpodautoscalers").model.from_dict(hpaconvert.to_v2(dict(d)))
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

"""ResourceQuota arithmetic: what an object charges, what a quota allows, the messages.

Why pure and here: the apiserver's admission (charging a create against the
quota) and the resourcequota controller (recounting `status.used`) must agree
to the unit on what every object costs, so both call these functions. Amounts
are plain ints in one unit per resource -- millicores for cpu, bytes for
memory, a count otherwise -- parsed and printed with `kubelite.api.quantity`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kubelite.api import registry
from kubelite.api.meta import Resource
from kubelite.api.namespacepolicy import ResourceQuota
from kubelite.api.pods import Pod
from kubelite.api.podutil import is_pod_terminal, pod_requests
from kubelite.api.quantity import cpu_millis, format_cpu_millis, format_memory, memory_bytes, value

Amounts = dict[str, int]

CPU_NAMES = ("requests.cpu", "cpu", "limits.cpu")
MEMORY_NAMES = ("requests.memory", "memory", "limits.memory")
COMPUTE_NAMES = CPU_NAMES + MEMORY_NAMES
OBJECT_COUNT_NAMES = ("pods", "services", "configmaps", "secrets", "resourcequotas", "services.nodeports",
                      "services.loadbalancers")
"""Kubernetes' short names for object counts (the rest are spelled count/<resource>.<group>)."""

# What a container must state for a quota on each compute resource to be able to charge it.
_REQUIRED_FIELD = {
    "requests.cpu": ("requests", "cpu"), "cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"), "memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory"),
}


def name_error(name: str) -> str | None:
    """Why `name` cannot be a key of spec.hard (None: kubelite enforces it)."""
    if name in COMPUTE_NAMES or name in OBJECT_COUNT_NAMES:
        return None
    if name.startswith("count/"):
        info = registry.find(name[len("count/"):])
        if info is not None and info.namespaced and info.qualified_resource == name[len("count/"):]:
            return None
        return "must name a namespaced resource as count/<resource>.<group> (count/pods, count/deployments.apps)"
    return ("must be one of " + ", ".join(COMPUTE_NAMES + OBJECT_COUNT_NAMES)
            + " or count/<resource>.<group>; kubelite does not enforce other quota resources")


# Which stored resource each short quota name is counted from.
_SOURCES = {name: "pods" for name in COMPUTE_NAMES} | {
    "pods": "pods", "services": "services", "services.nodeports": "services", "services.loadbalancers": "services",
    "configmaps": "configmaps", "secrets": "secrets", "resourcequotas": "resourcequotas",
}


def source_of(name: str) -> str | None:
    """The registry resource whose objects a quota on `name` counts (None: unknown name)."""
    if name.startswith("count/"):
        info = registry.find(name[len("count/"):])
        return info.resource if info is not None else None
    return _SOURCES.get(name)


def parse_amount(name: str, text: str) -> int:
    """A quantity of resource `name` in its unit; ValueError for bad text."""
    if name in CPU_NAMES:
        return cpu_millis(text)
    if name in MEMORY_NAMES:
        return memory_bytes(text)
    return value(text)


def format_amount(name: str, amount: int) -> str:
    if name in CPU_NAMES:
        return format_cpu_millis(amount)
    if name in MEMORY_NAMES:
        return format_memory(amount)
    return str(amount)


def hard_amounts(quota: ResourceQuota) -> Amounts:
    """spec.hard in units (validation already refused unparsable values; any left count as 0)."""
    out: Amounts = {}
    for name, text in quota.spec.hard.items():
        try:
            out[name] = parse_amount(name, text)
        except ValueError:
            out[name] = 0
    return out


def used_amounts(quota: ResourceQuota) -> Amounts | None:
    """status.used in units, or None when the status does not yet cover every key of spec.hard
    (a new or edited quota): then usage must be counted from the objects."""
    used = quota.status.used
    if set(quota.spec.hard) - set(used) or set(quota.spec.hard) != set(quota.status.hard):
        return None
    out: Amounts = {}
    for name in quota.spec.hard:
        try:
            out[name] = parse_amount(name, used[name])
        except ValueError:
            return None
    return out


def usage(resource: str, obj: Resource) -> Amounts:
    """Everything `obj` (of registry resource `resource`) charges, under every name a quota may use.

    A pod in a terminal phase (Succeeded, Failed) charges nothing: it holds no resources.
    """
    info = registry.lookup(resource)
    out: Amounts = {f"count/{info.qualified_resource}": 1}
    if info.resource in OBJECT_COUNT_NAMES:
        out[info.resource] = 1
    if isinstance(obj, Pod):
        if is_pod_terminal(obj):
            return {}
        requests, limits = pod_requests(obj, lenient=True), pod_requests(obj, lenient=True, limits=True)
        out.update({"requests.cpu": requests.cpu, "cpu": requests.cpu, "requests.memory": requests.memory,
                    "memory": requests.memory, "limits.cpu": limits.cpu, "limits.memory": limits.memory})
    spec = getattr(obj, "spec", None)
    if info.resource == "services" and spec is not None:
        kind = getattr(spec, "type", None) or "ClusterIP"
        out["services.loadbalancers"] = 1 if kind == "LoadBalancer" else 0
        out["services.nodeports"] = len(spec.ports) if kind in ("NodePort", "LoadBalancer") else 0
    return out


def total(resource_usages: Iterable[Amounts], names: Iterable[str]) -> Amounts:
    """The sum of many objects' usage, for the resource `names` a quota tracks."""
    wanted = list(names)
    out: Amounts = dict.fromkeys(wanted, 0)
    for amounts in resource_usages:
        for name in wanted:
            out[name] += amounts.get(name, 0)
    return out


def missing_specs(quota: ResourceQuota, pod: Pod) -> str | None:
    """Kubernetes' `must specify ...` when `pod` leaves out a request/limit `quota` limits, else None."""
    parts = []
    for name in sorted(quota.spec.hard):
        field = _REQUIRED_FIELD.get(name)
        if field is None:
            continue
        section, resource = field
        lacking = [c.name for c in pod.spec.all_containers() if resource not in getattr(c.resources, section)]
        if lacking:
            parts.append(f"{name} for: {','.join(lacking)}")
    return "must specify " + "; ".join(parts) if parts else None


def exceeded(quota_name: str, hard: Mapping[str, int], used: Mapping[str, int], requested: Mapping[str, int]
             ) -> str | None:
    """Kubernetes' `exceeded quota: NAME, requested: ..., used: ..., limited: ...`, or None if it fits."""
    over = sorted(n for n, amount in requested.items()
                  if n in hard and amount > 0 and used.get(n, 0) + amount > hard[n])
    if not over:
        return None

    def listing(source: Mapping[str, int]) -> str:
        return ",".join(f"{n}={format_amount(n, source.get(n, 0))}" for n in over)

    return (f"exceeded quota: {quota_name}, requested: {listing(requested)}, used: {listing(used)}, "
            f"limited: {listing(hard)}")


def status_strings(amounts: Mapping[str, int]) -> dict[str, str]:
    """Amounts as the quantity strings status.used shows."""
    return {n: format_amount(n, a) for n, a in sorted(amounts.items())}

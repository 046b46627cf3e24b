"""Finding the pod spec inside any workload object, for `set`, `expose` and `run`.

Why one helper: pods hold it at `spec`, CronJobs at `spec.jobTemplate.spec.template.spec`,
every other workload at `spec.template.spec`; each command that edits containers or reads
a selector must agree on where to look and say clearly when a kind has none.
"""

from __future__ import annotations

from typing import Any

from kubectl.errors import CliError
from kubectl.session import Obj

TEMPLATE_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController")


def pod_spec(obj: Obj) -> Obj:
    """The (mutable) pod spec of a Pod or workload; CliError for kinds without one."""
    kind = str(obj.get("kind", ""))
    spec = obj.setdefault("spec", {})
    if kind == "Pod":
        return spec  # type: ignore[no-any-return]
    if kind == "CronJob":
        spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    elif kind not in TEMPLATE_KINDS:
        raise CliError(f"{kind.lower() or 'object'}s have no pod template to change")
    result: Obj = spec.setdefault("template", {}).setdefault("spec", {})
    return result


def containers(obj: Obj, name: str = "*", init: bool = True) -> list[Obj]:
    """Containers (and init containers) of the object matching `name` (`*` = all)."""
    spec = pod_spec(obj)
    found: list[Obj] = []
    for field in ("initContainers", "containers") if init else ("containers",):
        for container in spec.get(field) or []:
            if isinstance(container, dict) and (name in ("*", "") or container.get("name") == name):
                found.append(container)
    return found


def template_labels(obj: Obj) -> dict[str, Any]:
    """Labels of the pods an object runs (a pod's own labels)."""
    if obj.get("kind") == "Pod":
        return dict((obj.get("metadata") or {}).get("labels") or {})
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})

"""`apply --prune`: delete what an earlier apply created but the current input no longer has.

Only objects that carry the last-applied annotation (so were made by `apply`) and match the
selector are candidates, in the namespaces the input touches, among kubectl's default
prunable kinds; cluster-scoped kinds other than those are never pruned.
"""

from __future__ import annotations

from kubectl.apply import LAST_APPLIED
from kubectl.manifests import Manifest
from kubectl.output import write
from kubectl.resources import display_name
from kubectl.session import Session
from kubelite.api import registry

PRUNABLE = ("configmaps", "endpoints", "persistentvolumeclaims", "pods", "replicationcontrollers", "secrets",
            "services", "jobs", "cronjobs", "ingresses", "daemonsets", "deployments", "replicasets",
            "statefulsets")


async def prune(session: Session, applied: list[Manifest], selector: str, dry_run: str, suffix: str) -> None:
    keep = {(m.info.resource, m.namespace, m.name) for m in applied}
    namespaces = sorted({m.namespace for m in applied if m.namespace} or {session.namespace})
    for resource in PRUNABLE:
        info = registry.find(resource)
        if info is None:
            continue
        for namespace in namespaces:
            objs, _ = await session.list(info, namespace, selector)
            for obj in objs:
                meta = obj.get("metadata") or {}
                name = str(meta.get("name", ""))
                if (info.resource, namespace, name) in keep or LAST_APPLIED not in (meta.get("annotations") or {}):
                    continue
                if dry_run == "none":
                    await session.delete(info, name, namespace)
                write(f"{display_name(info, name)} pruned{suffix}\n")

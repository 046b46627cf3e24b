"""Tiny builders for controller unit tests (pods, ReplicaSets, Deployments as the caches hold them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubelite.api import Deployment, Pod, ReplicaSet

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "main", "image": "busybox:1.35", "command": ["sleep", "1000"]}]},
}


def pod(
    name: str,
    *,
    node: str | None = "node-1",
    phase: str = "Running",
    ready: bool = True,
    ready_at: float = 0,
    created: float = 0,
    restarts: int = 0,
    labels: dict[str, str] | None = None,
    owner_uid: str | None = None,
    deleting: bool = False,
) -> Pod:
    meta: dict[str, Any] = {
        "name": name, "namespace": "default", "uid": f"uid-{name}", "creationTimestamp": ts(created),
        "labels": labels if labels is not None else {"app": "web"},
    }
    if owner_uid:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                    "uid": owner_uid, "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = ts(created + 1)
    status: dict[str, Any] = {"phase": phase,
                              "containerStatuses": [{"name": "main", "restartCount": restarts}]}
    status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                             "lastTransitionTime": ts(ready_at)}]
    spec: dict[str, Any] = dict(TEMPLATE["spec"])
    if node:
        spec["nodeName"] = node
    return Pod.from_dict({"metadata": meta, "spec": spec, "status": status})


def replica_set(
    name: str,
    replicas: int,
    *,
    available: int | None = None,
    status_replicas: int | None = None,
    created: float = 0,
    revision: int | None = None,
    annotations: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
    uid: str | None = None,
) -> ReplicaSet:
    ann = dict(annotations or {})
    if revision is not None:
        ann["deployment.kubernetes.io/revision"] = str(revision)
    return ReplicaSet.from_dict({
        "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                     "creationTimestamp": ts(created), "annotations": ann, "generation": 1,
                     "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": template or TEMPLATE},
        "status": {"replicas": replicas if status_replicas is None else status_replicas,
                   "availableReplicas": replicas if available is None else available,
                   "readyReplicas": replicas if available is None else available,
                   "observedGeneration": 1},
    })


def deployment(
    replicas: int,
    *,
    surge: int | str | None = None,
    unavailable: int | str | None = None,
    strategy: str = "RollingUpdate",
    template: dict[str, Any] | None = None,
    status_replicas: int | None = None,
    history: int | None = None,
) -> Deployment:
    strat: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate" and (surge is not None or unavailable is not None):
        ru: dict[str, Any] = {}
        if surge is not None:
            ru["maxSurge"] = surge
        if unavailable is not None:
            ru["maxUnavailable"] = unavailable
        strat["rollingUpdate"] = ru
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                            "template": template or TEMPLATE, "strategy": strat}
    if history is not None:
        spec["revisionHistoryLimit"] = history
    return Deployment.from_dict({
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-web", "generation": 1},
        "spec": spec,
        "status": {"replicas": status_replicas if status_replicas is not None else replicas},
    })

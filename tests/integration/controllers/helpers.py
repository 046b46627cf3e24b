"""Shared helpers for controller integration tests: polling, fake readiness, manifests."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from kubelite.api import Deployment, Pod, ReplicaSet
from kubelite.api.errors import Conflict, NotFound
from kubelite.client import ApiClient
from tests.polling import eventually

T = TypeVar("T")

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "main", "image": "busybox:1.35", "command": ["sleep", "3600"]}]},
}




wait_for = eventually  # the name the controller tests use


def template(**changes: Any) -> dict[str, Any]:
    t = copy.deepcopy(TEMPLATE)
    t["spec"]["containers"][0].update(changes)
    return t


def replica_set(name: str, replicas: int, labels: dict[str, str] | None = None) -> ReplicaSet:
    labels = labels or {"app": name}
    t = copy.deepcopy(TEMPLATE)
    t["metadata"]["labels"] = labels
    return ReplicaSet.from_dict({
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": t},
    })


def deployment(name: str, replicas: int, *, strategy: dict[str, Any] | None = None,
               tmpl: dict[str, Any] | None = None, history: int | None = None) -> Deployment:
    t = copy.deepcopy(tmpl or TEMPLATE)
    t["metadata"]["labels"] = {"app": name}
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": t}
    if strategy is not None:
        spec["strategy"] = strategy
    if history is not None:
        spec["revisionHistoryLimit"] = history
    return Deployment.from_dict({"metadata": {"name": name}, "spec": spec})


def live(pods: list[Pod]) -> list[Pod]:
    return [p for p in pods if p.metadata.deletion_timestamp is None]


async def pods_of(client: ApiClient, app: str) -> list[Pod]:
    return live((await client.list(Pod, "default", label_selector=f"app={app}")).items)


async def count_is(client: ApiClient, app: str, n: int) -> list[Pod] | None:
    pods = await pods_of(client, app)
    return pods if len(pods) == n else None


async def mark_ready(client: ApiClient, pod: Pod) -> None:
    """Play kubelet: the pod runs and is Ready."""
    fresh = pod.copy_deep()
    fresh.status = Pod.from_dict({"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
    }}).status
    with contextlib.suppress(NotFound, Conflict):
        await client.update_status(fresh)


@contextlib.asynccontextmanager
async def fake_kubelet(client: ApiClient, app: str) -> AsyncIterator[None]:
    """While active, every pod of `app` is soon marked Running and Ready (no real kubelet here)."""

    async def loop() -> None:
        while True:
            for pod in await pods_of(client, app):
                if pod.status.phase != "Running":
                    await mark_ready(client, pod)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

"""`kctl top`: rows shaped like kubectl's from metrics API answers (a fake client; the cluster path is e2e)."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.commands.top import top_nodes, top_pods
from kubectl.session import Session


class FakeClient:
    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers

    async def read_unstored(self, resource: str, namespace: str, name: str = "", label_selector: str = "") -> list[Any]:
        return self.answers[resource]

    async def list_raw(self, resource: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"items": self.answers[resource]}


def pod(name: str, ns: str, *containers: tuple[str, str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns},
            "containers": [{"name": c, "usage": {"cpu": cpu, "memory": mem}} for c, cpu, mem in containers]}


def session(answers: dict[str, list[dict[str, Any]]]) -> Session:
    return Session(FakeClient(answers), "x", "default")  # type: ignore[arg-type]


def args(**kw: Any) -> argparse.Namespace:
    base = {"name": "", "selector": "", "sort_by": "", "all_namespaces": False, "containers": False}
    return argparse.Namespace(**{**base, **kw})


async def test_pods_sum_containers_and_sort_by_cpu() -> None:
    s = session({"pods.metrics.k8s.io": [
        pod("a", "default", ("c1", "100000000n", "10Mi"), ("c2", "50m", "5Mi")),
        pod("b", "default", ("c", "300m", "1Mi")),
    ]})
    assert await top_pods(s, args()) == [["a", "150m", "15Mi"], ["b", "300m", "1Mi"]]
    assert (await top_pods(s, args(sort_by="cpu")))[0][0] == "b"
    assert (await top_pods(s, args(sort_by="memory")))[0][0] == "a"
    rows = await top_pods(s, args(all_namespaces=True, containers=True))
    assert rows[0] == ["default", "a", "c1", "100m", "10Mi"]


async def test_nodes_percent_of_allocatable() -> None:
    s = session({
        "nodes.metrics.k8s.io": [{"metadata": {"name": "n1"}, "usage": {"cpu": "500m", "memory": "1Gi"}}],
        "nodes": [{"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}}],
    })
    assert await top_nodes(s, args()) == [["n1", "500m", "25%", "1024Mi", "25%"]]

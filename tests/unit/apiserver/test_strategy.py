"""Per-kind strategies: who owns status, what a new object starts with, how a namespace is deleted."""

from __future__ import annotations

import pytest

from apiserver.strategy import Deletion, Strategies
from kubelite.api import ConfigMap, Deployment, Namespace, Node, ObjectMeta, Pod, registry
from kubelite.api.errors import BadRequest, InternalError


def _strategies(empty: bool = False) -> Strategies:
    async def namespace_empty(name: str) -> bool:
        return empty

    return Strategies(namespace_empty=namespace_empty, not_ready_toleration_seconds=7,
                      unreachable_toleration_seconds=9)


def test_every_kind_has_a_strategy_of_its_model() -> None:
    strategies = _strategies()
    for info in registry.all_kinds():
        assert strategies.of(info).model is info.model


def test_create_resets_controller_owned_status_but_not_a_nodes() -> None:
    strategies = _strategies()
    d = Deployment.from_dict({"metadata": {"name": "d"}, "status": {"replicas": 3}})
    strategies.of(registry.lookup("deployments")).prepare_for_create(d)
    assert d.status.replicas in (None, 0) and d.metadata.uid and d.metadata.generation == 1
    n = Node.from_dict({"metadata": {"name": "n"}, "status": {"phase": "Running"}})
    strategies.of(registry.lookup("nodes")).prepare_for_create(n)
    assert n.status.phase == "Running"


def test_new_pods_are_pending_and_tolerate_failed_nodes_for_the_configured_time() -> None:
    strategies = _strategies()
    p = Pod.from_dict({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]},
                       "status": {"phase": "Running"}})
    strategies.of(registry.lookup("pods")).prepare_for_create(p)
    assert p.status.phase == "Pending"
    assert sorted((t.key, t.toleration_seconds) for t in p.spec.tolerations) == [
        ("node.kubernetes.io/not-ready", 7), ("node.kubernetes.io/unreachable", 9)]


def _deployment(meta: dict[str, object], replicas: int, status_replicas: int) -> Deployment:
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    return Deployment.from_dict({"metadata": meta, "status": {"replicas": status_replicas}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": "a"}}, "template": template}})


def test_update_keeps_status_and_status_update_keeps_spec() -> None:
    strategy = _strategies().of(registry.lookup("deployments"))
    old = _deployment({"name": "d", "uid": "u", "generation": 1}, 1, 1)
    new = _deployment({"name": "d"}, 2, 5)
    strategy.prepare_for_update(old, new)
    assert (new.status.replicas, new.metadata.uid, new.metadata.generation) == (1, "u", 2)
    result = strategy.prepare_for_status_update(old, _deployment({"name": "d"}, 2, 5))
    assert isinstance(result, Deployment)
    assert (result.spec.replicas, result.status.replicas) == (1, 5)


def test_kinds_without_status_have_no_status_subresource() -> None:
    strategy = _strategies().of(registry.lookup("configmaps"))
    cm = ConfigMap.from_dict({"metadata": {"name": "c"}})
    with pytest.raises(BadRequest, match="no status subresource"):
        strategy.prepare_for_status_update(cm, cm)


def test_a_strategy_refuses_another_kinds_object() -> None:
    with pytest.raises(InternalError):
        _strategies().pods.bind(ConfigMap(metadata=ObjectMeta(name="c")), "n1", "")


async def test_namespace_delete_terminates_until_empty() -> None:
    ns = Namespace.from_dict({"metadata": {"name": "team"}, "status": {"phase": "Active"}})
    busy = _strategies(empty=False).of(registry.lookup("namespaces"))
    assert not busy.removes_when_finalized
    assert await busy.mark_for_deletion(ns, None, "") is Deletion.WRITE
    assert ns.status.phase == "Terminating" and ns.metadata.deletion_timestamp
    assert await busy.mark_for_deletion(ns, None, "") is Deletion.UNCHANGED
    empty = _strategies(empty=True).of(registry.lookup("namespaces"))
    assert await empty.mark_for_deletion(ns, None, "") is Deletion.REMOVE

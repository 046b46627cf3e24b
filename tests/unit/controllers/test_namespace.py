"""Namespace controller against an in-memory API: Terminating, content deleted, finalizer removed."""

from __future__ import annotations

from datetime import UTC, datetime

from controllers.base import ControllerContext
from controllers.informers import InformerFactory
from controllers.namespace.controller import NAMESPACE_FINALIZER, NamespaceController
from kubelite.api import ConfigMap, Namespace, Pod
from tests.unit.controllers.memapi import FakeClock, MemoryApi


async def test_terminating_namespace_is_emptied_then_finalized() -> None:
    api = MemoryApi(FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
    api.graceful_pods = True
    factory = InformerFactory(api.client)
    ctrl = NamespaceController(ControllerContext(api.client, factory))
    api.attach(factory)
    api.put(Namespace.from_dict({"metadata": {"name": "team"}, "spec": {"finalizers": [NAMESPACE_FINALIZER]},
                                 "status": {"phase": "Active"}}))
    api.put(ConfigMap.from_dict({"metadata": {"name": "cfg", "namespace": "team"}}))
    api.put(Pod.from_dict({"metadata": {"name": "p", "namespace": "team"},
                           "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
                           "status": {"phase": "Running"}}))
    api.put(ConfigMap.from_dict({"metadata": {"name": "other", "namespace": "default"}}))

    await ctrl.reconcile("team")
    assert api.get(ConfigMap, "cfg", "team") is not None, "an Active namespace is left alone"
    assert len(ctrl.queue) == 0

    api.mutate(Namespace, "team", lambda ns: setattr(ns.metadata, "deletion_timestamp", "2026-01-01T00:00:00Z"),
               namespace="")
    assert len(ctrl.queue) == 1  # the handler enqueued it
    await ctrl.reconcile("team")
    assert api.get(ConfigMap, "cfg", "team") is None
    pod = api.get(Pod, "p", "team")
    assert pod is not None and pod.metadata.deletion_timestamp is not None, "pods terminate gracefully"
    ns = api.get(Namespace, "team", "")
    assert ns is not None and ns.status.phase == "Terminating"
    (cond,) = ns.status.conditions
    assert (cond.type, cond.status) == ("NamespaceContentRemaining", "True") and "pods has 1" in (cond.message or "")
    assert ns.spec.finalizers == [NAMESPACE_FINALIZER], "kept while content remains"

    api.finish_delete(Pod, "p", "team")  # the kubelet stopped it
    await ctrl.reconcile("team")
    ns = api.get(Namespace, "team", "")
    assert ns is None or NAMESPACE_FINALIZER not in ns.spec.finalizers
    assert api.get(ConfigMap, "other", "default") is not None, "other namespaces untouched"

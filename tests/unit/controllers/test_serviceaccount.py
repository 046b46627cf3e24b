"""ServiceAccount controller and root-ca-cert-publisher against the in-memory API."""

from __future__ import annotations

from datetime import UTC, datetime

from controllers.base import ControllerContext
from controllers.informers import InformerFactory
from controllers.rootcacertpublisher.controller import CONFIGMAP_NAME, RootCACertPublisher
from controllers.serviceaccount.controller import ServiceAccountsController
from kubelite.api import ConfigMap, Namespace, ServiceAccount
from tests.unit.controllers.memapi import FakeClock, MemoryApi

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def ns(name: str, **meta: str) -> Namespace:
    return Namespace.from_dict({"metadata": {"name": name, **meta}, "status": {"phase": "Active"}})


async def test_default_service_account_created_and_recreated() -> None:
    api = MemoryApi(FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
    factory = InformerFactory(api.client)
    ctrl = ServiceAccountsController(ControllerContext(api.client, factory))
    api.attach(factory)
    api.put(ns("team"))
    assert len(ctrl.queue) == 1, "a new namespace is enqueued"
    await ctrl.reconcile("team")
    sa = api.get(ServiceAccount, "default", "team")
    assert sa is not None and sa.metadata.namespace == "team"

    creates = len([c for c in api.calls if c[0] == "Create"])
    await ctrl.reconcile("team")
    assert len([c for c in api.calls if c[0] == "Create"]) == creates, "nothing to do when it exists"

    await ctrl.queue.get()
    ctrl.queue.done("team")
    api.finish_delete(ServiceAccount, "default", "team")
    assert len(ctrl.queue) == 1, "deleting the default service account enqueues its namespace"
    await ctrl.reconcile("team")
    assert api.get(ServiceAccount, "default", "team") is not None, "recreated"

    api.put(ServiceAccount.from_dict({"metadata": {"name": "builder", "namespace": "team"}}))
    api.finish_delete(ServiceAccount, "builder", "team")
    await ctrl.reconcile("team")
    assert api.get(ServiceAccount, "builder", "team") is None, "only default is kept"


async def test_terminating_namespace_gets_nothing() -> None:
    api = MemoryApi(FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
    factory = InformerFactory(api.client)
    ctrl = ServiceAccountsController(ControllerContext(api.client, factory))
    api.attach(factory)
    api.put(ns("old", deletionTimestamp="2026-01-01T00:00:00Z"))
    await ctrl.reconcile("old")
    await ctrl.reconcile("missing")
    assert api.get(ServiceAccount, "default", "old") is None


async def test_root_ca_published_in_every_namespace_and_restored() -> None:
    api = MemoryApi(FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
    factory = InformerFactory(api.client)
    ctrl = RootCACertPublisher(ControllerContext(api.client, factory), CA)
    api.attach(factory)
    api.put(ns("default"))
    api.put(ns("team"))
    for name in ("default", "team"):
        await ctrl.reconcile(name)
        cm = api.get(ConfigMap, CONFIGMAP_NAME, name)
        assert cm is not None and cm.data == {"ca.crt": CA}
        assert "kubernetes.io/description" in cm.metadata.annotations

    api.mutate(ConfigMap, CONFIGMAP_NAME, lambda cm: cm.data.update({"ca.crt": "tampered"}), namespace="team")
    await ctrl.reconcile("team")
    cm = api.get(ConfigMap, CONFIGMAP_NAME, "team")
    assert cm is not None and cm.data == {"ca.crt": CA}, "an edited copy is put back"

    api.finish_delete(ConfigMap, CONFIGMAP_NAME, "team")
    await ctrl.reconcile("team")
    assert api.get(ConfigMap, CONFIGMAP_NAME, "team") is not None, "a deleted copy is recreated"

"""The ServiceAccount controller: every active namespace has a `default` ServiceAccount.

Why a controller and not the apiserver: like Kubernetes' serviceaccounts-controller,
this is ordinary desired state -- "namespace exists => default SA exists" --
and must be restored when someone deletes the SA, which only a watch can notice.
Pods are refused at admission while their ServiceAccount is missing, so the
controllers that create pods retry until this one has caught up.

Keys are namespace names: a namespace added or updated (not terminating), or a
`default` ServiceAccount deleted, enqueues its namespace.
"""

from __future__ import annotations

import logging

from controllers.base import Controller, ControllerContext
from kubelite.api import Namespace, ObjectMeta, ServiceAccount
from kubelite.api.errors import AlreadyExists, Forbidden, NotFound
from kubelite.client import Informer

log = logging.getLogger(__name__)

DEFAULT_NAME = "default"


class ServiceAccountsController(Controller):
    name = "serviceaccount"

    def __init__(self, ctx: ControllerContext, names: tuple[str, ...] = (DEFAULT_NAME,)) -> None:
        super().__init__(ctx)
        self.names = names
        self.namespaces: Informer[Namespace] = ctx.factory.informer(Namespace)
        self.accounts: Informer[ServiceAccount] = ctx.factory.informer(ServiceAccount)
        self.namespaces.add_handlers(self.enqueue, lambda _old, new: self.enqueue(new),
                                     lambda ns: self.queue.forget(ns.metadata.name or ""))
        self.accounts.add_handlers(on_delete=self._account_gone)

    def _account_gone(self, sa: ServiceAccount) -> None:
        if sa.metadata.name in self.names:
            self.enqueue_key(sa.metadata.namespace or "default")

    async def reconcile(self, key: str) -> None:
        ns = self.namespaces.store.get(key)
        if ns is None or ns.metadata.deletion_timestamp is not None or ns.status.phase == "Terminating":
            return
        for name in self.names:
            if self.accounts.store.get(f"{key}/{name}") is not None:
                continue
            try:
                await self.client.create(ServiceAccount(metadata=ObjectMeta(name=name, namespace=key)))
                log.info("created service account", extra={"namespace": key, "serviceaccount": name})
            except AlreadyExists:
                continue
            except (NotFound, Forbidden):
                return  # the namespace is gone or terminating: nothing to keep

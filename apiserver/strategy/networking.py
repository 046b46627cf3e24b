"""Strategy of Ingress: its status (the addresses it is served on) belongs to the ingress controller.

Why a status strategy: the controller writes `status.loadBalancer` through the
status subresource; a user's `kctl apply` of the spec must not wipe it, and a
new Ingress starts with no address until a controller serves it.
"""

from __future__ import annotations

from apiserver.strategy.base import StatusStrategy
from kubelite.api.ingress import Ingress, IngressStatus


class IngressStrategy(StatusStrategy[Ingress, IngressStatus]):
    def status(self, obj: Ingress) -> IngressStatus:
        return obj.status

    def set_status(self, obj: Ingress, status: IngressStatus) -> None:
        obj.status = status

    def initial_status(self) -> IngressStatus:
        return IngressStatus()

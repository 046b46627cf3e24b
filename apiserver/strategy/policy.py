"""Strategies of the namespace policy kinds: a ResourceQuota's status belongs to the server.

Why a status strategy: `status.used` is written by quota admission (on every
charged create) and by the resourcequota controller (recounts); a user's
`kctl apply` of the spec must not reset it, and a new quota starts with none,
so the first charge counts what already exists.
"""

from __future__ import annotations

from apiserver.strategy.base import StatusStrategy
from kubelite.api.namespacepolicy import ResourceQuota, ResourceQuotaStatus


class ResourceQuotaStrategy(StatusStrategy[ResourceQuota, ResourceQuotaStatus]):
    def status(self, obj: ResourceQuota) -> ResourceQuotaStatus:
        return obj.status

    def set_status(self, obj: ResourceQuota, status: ResourceQuotaStatus) -> None:
        obj.status = status

    def initial_status(self) -> ResourceQuotaStatus:
        return ResourceQuotaStatus()

"""Pure recount of a ResourceQuota's status from the objects of its namespace.

Why pure: "what does this namespace use" is the same arithmetic quota admission
charges with (`kubelite.api.quota`); keeping the controller's decision free of
I/O lets a unit test check it, terminal pods and all, without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kubelite.api import quota
from kubelite.api.meta import Resource
from kubelite.api.namespacepolicy import ResourceQuota, ResourceQuotaStatus


def sources(q: ResourceQuota) -> list[str]:
    """The registry resources whose objects `q` counts."""
    return sorted({s for name in q.spec.hard if (s := quota.source_of(name)) is not None})


def compute_status(q: ResourceQuota, objects: Mapping[str, Sequence[Resource]]) -> ResourceQuotaStatus:
    """status.hard = spec.hard and status.used = the sum over `objects` (by resource) of what each charges."""
    usages: Iterable[quota.Amounts] = (quota.usage(resource, obj) for resource, items in objects.items()
                                       for obj in items)
    used = quota.total(usages, q.spec.hard)
    return ResourceQuotaStatus(hard=dict(q.spec.hard), used=quota.status_strings(used))

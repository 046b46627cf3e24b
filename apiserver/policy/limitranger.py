"""LimitRanger admission: a pod gets its namespace's default requests/limits and must fit min/max/ratio.

Why here: defaults must be in the stored pod (the scheduler and kubelet read
them, a quota charges them), so they are applied on the write path; the
namespace's LimitRanges come from the watch cache, which every write already
keeps current.
"""

from __future__ import annotations

from apiserver.selection import Selection
from apiserver.watchcache import WatchCache
from kubelite.api import limitrange
from kubelite.api.errors import Forbidden
from kubelite.api.namespacepolicy import LimitRange
from kubelite.api.pods import Pod


class LimitRanger:
    def __init__(self, cache: WatchCache) -> None:
        self._cache = cache

    def ranges(self, namespace: str) -> list[LimitRange]:
        items, _ = self._cache.list_objects(Selection.parse(namespace))
        return [LimitRange.from_dict(c.obj) for c in items]

    def admit_pod(self, namespace: str, pod: Pod) -> bool:
        """Apply defaults (True if the pod changed, so it is validated again); Forbidden on a violation."""
        ranges = self.ranges(namespace)
        if not ranges:
            return False
        changed = limitrange.apply_defaults(pod, ranges)
        problems = limitrange.violations(pod, ranges)
        if problems:
            detail = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
            raise Forbidden(f'pods "{pod.metadata.name}" is forbidden: {detail}', name=pod.metadata.name,
                            kind="pods")
        return changed

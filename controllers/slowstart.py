"""How many pods a controller may create in one sync, and in which batches.

Why shared and pure: the ReplicaSet, Job and DaemonSet controllers all create
pods from a count that a user controls. Kubernetes caps each sync (its
burstReplicas) and sends creations in slow-start batches of 1, 2, 4, ...,
stopping at the first failure, so a huge but valid count, or a template every
creation of which fails (quota, admission), costs a handful of requests per
sync instead of melting the apiserver. The executor (`PodOwnerController`)
follows these batches; the plans apply the caps.
"""

from __future__ import annotations

BURST_REPLICAS = 500
"""At most this many pod creations or deletions per ReplicaSet/Job sync (Kubernetes' burstReplicas)."""

DAEMON_BURST_REPLICAS = 250
"""At most this many daemon pods created per DaemonSet sync (Kubernetes' DaemonSet burst)."""


def slow_start_batches(count: int, initial: int = 1) -> list[int]:
    """Batch sizes 1, 2, 4, ... summing to `count` (the executor stops after a batch with a failure)."""
    batches: list[int] = []
    size = max(1, initial)
    remaining = count
    while remaining > 0:
        step = min(size, remaining)
        batches.append(step)
        remaining -= step
        size *= 2
    return batches


def capped(count: int, burst: int = BURST_REPLICAS) -> int:
    """`count` limited to one sync's burst."""
    return max(0, min(count, burst))

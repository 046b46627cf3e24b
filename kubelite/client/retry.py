"""Retry a read-modify-write on Conflict, like client-go's `retry.RetryOnConflict`.

Why one helper: every writer of a shared object (a Node's taints, a pod's
status, a `kubectl scale`) must re-read and re-apply its change when another
writer got there first; the loop is short but easy to get subtly wrong (give
up silently, retry non-Conflict errors, lose the last error), so it is
written once. No delay between attempts: each attempt starts with a fresh
read, and a Conflict means the object just changed, not that the apiserver is
overloaded. Back-off for failing work belongs to the work queue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kubelite.api.errors import Conflict

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_ATTEMPTS = 5


async def retry_on_conflict(attempt: Callable[[], Awaitable[T]], attempts: int = DEFAULT_ATTEMPTS,
                            what: str | None = None) -> T:
    """Await `attempt()` until it does not raise Conflict, at most `attempts` times.

    `attempt` must read the object afresh each time. Other errors propagate at
    once. After the last Conflict: that Conflict again, or, when `what` names
    the object, a Conflict saying "<what> kept changing; gave up after N attempts".
    """
    last: Conflict | None = None
    for number in range(max(1, attempts)):
        try:
            return await attempt()
        except Conflict as exc:
            last = exc
            log.debug("conflict, retrying", extra={"object": what, "attempt": number + 1, "error": str(exc)})
    if what is not None:
        raise Conflict(f"{what} kept changing; gave up after {attempts} attempts") from last
    assert last is not None
    raise last

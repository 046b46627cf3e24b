"""The kubelet's ServiceAccount token manager: bound tokens for pods, refreshed before they expire.

Why a cache with a refresh point (Kubernetes' kubelet token manager): every
pod sync asks for the pod's token, but a TokenRequest per sync would load the
apiserver for nothing. A token is reused until 80% of its lifetime has passed
(or 24 hours, whichever is first), then replaced; the projected volume sees a
new value and rewrites the file atomically. If the apiserver cannot be reached
the old token is kept while it is still valid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubelite.api import Pod
from kubelite.api.errors import ApiError
from kubelite.api.timeutil import parse_time_or_none
from kubelite.client import ApiClient

log = logging.getLogger(__name__)

REFRESH_FRACTION = 0.8
MAX_TOKEN_AGE = 24 * 3600.0


@dataclass(frozen=True)
class CachedToken:
    token: bytes
    refresh_at: float
    expires_at: float


def refresh_point(issued_at: float, expires_at: float) -> float:
    """When a token issued at `issued_at` and valid until `expires_at` is due for replacement."""
    return issued_at + min(REFRESH_FRACTION * (expires_at - issued_at), MAX_TOKEN_AGE)


class TokenManager:
    """Bound tokens per (pod uid, service account, audience, lifetime), fetched through TokenRequest."""

    def __init__(self, client: ApiClient, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self._cache: dict[tuple[str, str, str, int], CachedToken] = {}

    async def token(self, pod: Pod, audience: str, seconds: int) -> bytes:
        """The pod's current token for `audience` ("" = the apiserver's own), valid for `seconds` when new."""
        meta = pod.metadata
        sa = pod.spec.service_account_name or pod.spec.service_account or "default"
        key = (meta.uid or "", sa, audience, seconds)
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and now < cached.refresh_at:
            return cached.token
        try:
            answer = await self.client.create_token(
                sa, meta.namespace or "default", audiences=[audience] if audience else [],
                expiration_seconds=seconds, bound_pod=(meta.name or "", meta.uid or ""))
        except ApiError as exc:
            if cached is not None and now < cached.expires_at:
                log.warning("token refresh failed; keeping the current token",
                            extra={"pod": meta.name, "error": str(exc)})
                return cached.token
            raise
        expires = parse_time_or_none(answer.status.expiration_timestamp)
        expires_at = expires.timestamp() if expires is not None else now + seconds
        fresh = CachedToken(answer.status.token.encode(), refresh_point(now, expires_at), expires_at)
        self._cache[key] = fresh
        return fresh.token

    def next_refresh(self, pod_uid: str) -> float | None:
        """When the first of the pod's tokens is due for replacement (None: it has none), so
        that its worker is woken then instead of finding out at a periodic sync."""
        return min((t.refresh_at for k, t in self._cache.items() if k[0] == pod_uid), default=None)

    def forget(self, pod_uid: str) -> None:
        """Drop the tokens of a pod that is gone."""
        for key in [k for k in self._cache if k[0] == pod_uid]:
            del self._cache[key]

    def cached(self) -> int:
        return len(self._cache)

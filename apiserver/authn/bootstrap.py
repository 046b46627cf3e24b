"""Bootstrap tokens as a bearer-token source of the authentication chain (`--enable-bootstrap-token-auth`).

Why read the Secrets watch cache: a joining node presents its token on every
request until it has a certificate; a store read per request would cost a
round trip, and the cache already holds every Secret (decrypted) and follows
the store, like Kubernetes' authenticator reads a Secret lister. A token
deleted or expired stops authenticating at once (the expiry is checked on
each request, not left to the token cleaner).

A bearer token not of the form `<6>.<16>`, or whose Secret does not exist, is
not ours: answer None and let the next source (ServiceAccount JWTs) try.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from apiserver import storage
from apiserver.authn.user import UserInfo
from apiserver.watchcache import WatchCache
from kubelite.api import bootstraptoken as bt
from kubelite.api.core import Secret
from kubelite.api.errors import ApiError
from kubelite.api.timeutil import utcnow

log = logging.getLogger(__name__)


class BootstrapTokenAuthenticator:
    """`TokenAuthenticator` over the Secrets cache: `system:bootstrap:<id>` in `system:bootstrappers`."""

    def __init__(self, caches: Mapping[str, WatchCache], *, clock: Callable[[], datetime] = utcnow) -> None:
        self.caches = caches
        self.clock = clock

    def authenticate_token(self, token: str) -> UserInfo | None:
        match = bt.TOKEN_RE.match(token)
        if match is None:
            return None
        token_id = match.group(1)
        stored = self.caches["secrets"].get(storage.object_key("secrets", bt.NAMESPACE, bt.secret_name(token_id)))
        if stored is None:
            return None
        try:
            secret = Secret.from_dict(stored.obj)
        except ApiError:
            return None
        found = bt.from_secret(secret)
        if not bt.authenticates(found, token, self.clock()):
            log.info("bootstrap token refused", extra={"token_id": token_id,
                                                       "problems": found.problems if found else ["not a token"]})
            return None
        assert found is not None
        return UserInfo(found.user, found.groups)

"""ServiceAccount JWTs as a bearer-token source of the apiserver's authentication chain.

Why an adapter and not the validator itself: the validator speaks in its own
`ServiceAccountUser` (so it stays usable offline and in tests without the
authn package), while the chain wants `UserInfo`. A token that is not a
ServiceAccount token of this cluster (another issuer, not a JWT) answers None,
so the chain moves on -- and, when nothing else claims it, refuses it (401).
"""

from __future__ import annotations

from apiserver.authn.user import UserInfo
from apiserver.serviceaccount.tokens import TokenValidator


class ServiceAccountAuthenticator:
    """`TokenAuthenticator` over a `TokenValidator` (bound tokens: pod and ServiceAccount must exist)."""

    def __init__(self, validator: TokenValidator) -> None:
        self.validator = validator

    async def authenticate_token(self, token: str) -> UserInfo | None:
        if token.count(".") != 2:
            return None  # not a JWT: someone else's token
        user = await self.validator.validate(token)
        if user is None:
            return None
        extra = {k: tuple(v) for k, v in user.extra.items()}
        return UserInfo(user.name, tuple(user.groups), user.uid, extra)

"""Bound ServiceAccount tokens: signed JWTs with Kubernetes' claims, and their validator.

Why the validator is a standalone object with `validate(token) -> user | None`:
the authenticator chain asks every authenticator in turn and takes the first
user; a token that is not ours (no `kubernetes.io` claim, unknown signer, other
issuer) answers None so the next authenticator may try it.

Why existence checks and not only the signature: a bound token (Kubernetes'
TokenRequest with `boundObjectRef`) must die with what it is bound to. The
token names its ServiceAccount and Pod by name *and* uid; when either is gone,
was replaced by a namesake (different uid) or has been deleting for longer
than a minute, the token no longer authenticates, however long its `exp`.

Times are checked here rather than by PyJWT (`verify_exp` off) so that the
clock is injectable and the tests need no sleeps.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt

from apiserver.serviceaccount.keys import SigningKeyType, VerificationKey, public_key_of
from kubelite.api.auth import service_account_groups, service_account_username
from kubelite.api.timeutil import parse_time_or_none, utcnow

log = logging.getLogger(__name__)

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CLAIMS_KEY = "kubernetes.io"
DELETION_GRACE = timedelta(seconds=60)
"""A deleting pod/SA keeps its tokens valid this long (as Kubernetes' validator)."""

POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid"
CREDENTIAL_ID_EXTRA = "authentication.kubernetes.io/credential-id"

Clock = Callable[[], datetime]
Getter = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]
"""(resource, namespace, name) -> the current object JSON or None: how the validator sees the store."""


@dataclass(frozen=True)
class ServiceAccountUser:
    """What a valid token authenticates as (the shape of Kubernetes' user.Info)."""

    name: str
    groups: list[str]
    uid: str
    extra: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class BoundPod:
    name: str
    uid: str


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires: datetime


class TokenIssuer:
    """Signs bound tokens with one private key (the apiserver's `--service-account-signing-key-file`)."""

    def __init__(self, key: SigningKeyType, issuer: str = DEFAULT_ISSUER, *, clock: Clock = utcnow) -> None:
        self.key = key
        self.issuer = issuer
        self.clock = clock
        self.public = public_key_of(key)

    def issue(self, namespace: str, name: str, sa_uid: str, audiences: Sequence[str], expiration_seconds: int,
              pod: BoundPod | None = None) -> IssuedToken:
        now = self.clock().replace(microsecond=0)
        expires = now + timedelta(seconds=expiration_seconds)
        private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": sa_uid}}
        if pod is not None:
            private["pod"] = {"name": pod.name, "uid": pod.uid}
        claims = {
            "iss": self.issuer,
            "sub": service_account_username(namespace, name),
            "aud": list(audiences),
            "exp": int(expires.timestamp()),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "jti": str(uuid.uuid4()),
            CLAIMS_KEY: private,
        }
        token = jwt.encode(claims, self.key, algorithm=self.public.algorithm, headers={"kid": self.public.kid})
        return IssuedToken(token, expires)


class TokenValidator:
    """Validates bound ServiceAccount tokens: signature, issuer, audience, times, bound objects.

    `keys` are the public keys of `--service-account-key-file` (several during a
    rotation); `audiences` the apiserver's `--api-audiences` (a token must name
    at least one); `getter` reads current objects (None: skip the existence
    checks, for offline use only).
    """

    def __init__(self, keys: Sequence[VerificationKey], issuers: Sequence[str], audiences: Sequence[str],
                 getter: Getter | None, *, clock: Clock = utcnow) -> None:
        self.keys = list(keys)
        self.issuers = set(issuers)
        self.audiences = set(audiences)
        self.getter = getter
        self.clock = clock

    # ---- the authenticator hook ----------------------------------------------------------------

    async def validate(self, token: str) -> ServiceAccountUser | None:
        """The user `token` authenticates as, or None (not ours, invalid, expired, bound object gone)."""
        claims = self.verify(token)
        if claims is None:
            return None
        private = claims[CLAIMS_KEY]
        namespace = private["namespace"]
        sa = private["serviceaccount"]
        pod = private.get("pod")
        if self.getter is not None:
            if not await self._alive("serviceaccounts", namespace, sa["name"], sa["uid"]):
                return None
            if pod is not None and not await self._alive("pods", namespace, pod["name"], pod["uid"]):
                return None
        extra: dict[str, list[str]] = {}
        if pod is not None:
            extra = {POD_NAME_EXTRA: [pod["name"]], POD_UID_EXTRA: [pod["uid"]]}
        if claims.get("jti"):
            extra[CREDENTIAL_ID_EXTRA] = [f"JTI={claims['jti']}"]
        return ServiceAccountUser(service_account_username(namespace, sa["name"]),
                                  service_account_groups(namespace), sa["uid"], extra)

    # ---- the pure part -------------------------------------------------------------------------

    def verify(self, token: str) -> dict[str, Any] | None:
        """Claims of a token whose signature, issuer, audience and times check out; else None."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        if not isinstance(unverified, dict) or unverified.get("iss") not in self.issuers:
            return None  # someone else's token: let the next authenticator try
        claims = self._check_signature(token, header)
        if claims is None:
            return None
        if not self._check_claims(claims):
            return None
        return claims

    def _check_signature(self, token: str, header: dict[str, Any]) -> dict[str, Any] | None:
        kid = header.get("kid")
        candidates = [k for k in self.keys if k.kid == kid] or self.keys
        for key in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, key.key, algorithms=[key.algorithm],
                    options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                             "verify_aud": False, "verify_iss": False},
                )
            except jwt.PyJWTError:
                continue
            return claims
        log.info("service account token: signature matches no key", extra={"kid": kid})
        return None

    def _check_claims(self, claims: dict[str, Any]) -> bool:
        private = claims.get(CLAIMS_KEY)
        if not isinstance(private, dict):
            return False
        sa = private.get("serviceaccount")
        if not isinstance(private.get("namespace"), str) or not isinstance(sa, dict):
            return False
        if not isinstance(sa.get("name"), str) or not isinstance(sa.get("uid"), str):
            return False
        if claims.get("sub") != service_account_username(private["namespace"], sa["name"]):
            return False
        pod = private.get("pod")
        if pod is not None and not (isinstance(pod, dict) and isinstance(pod.get("name"), str)
                                    and isinstance(pod.get("uid"), str)):
            return False
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not self.audiences.intersection(a for a in auds if isinstance(a, str)):
            log.info("service account token: audience not accepted", extra={"aud": auds})
            return False
        now = self.clock().timestamp()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or now >= exp:
            return False
        return not (isinstance(nbf, int | float) and now < nbf)

    async def _alive(self, resource: str, namespace: str, name: str, uid: str) -> bool:
        assert self.getter is not None
        obj = await self.getter(resource, namespace, name)
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if meta.get("uid") != uid:
            return False
        deleting = parse_time_or_none(meta.get("deletionTimestamp"))
        return deleting is None or deleting + DELETION_GRACE > self.clock()

"""Bootstrap tokens: their format, their Secret, their expiry, and the JWS that signs cluster-info.

Why this lives in `kubelite.api`: the apiserver (authenticator), the
controller-manager (token cleaner, bootstrap signer) and the CLI (`kubelite
token`, `kubelite join`) must agree to the letter on what a token is, so they
share these pure functions and none of them re-derives the format.

Kubernetes' facts kept here: a token is `<id>.<secret>` with a 6-character id
and a 16-character secret of `[a-z0-9]`; it is stored as Secret
`kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token`
with keys token-id, token-secret, expiration (RFC 3339), description,
usage-bootstrap-authentication, usage-bootstrap-signing and auth-extra-groups
(comma separated, each `system:bootstrappers:` prefixed). It authenticates as
`system:bootstrap:<id>` in `system:bootstrappers` plus its extra groups.

The cluster-info signature is a detached JWS: HS256 with the whole token as
key, header `{"alg":"HS256","kid":"<id>"}`, compact form with the payload
left out (`header..signature`); the payload is base64url-encoded into the
signing input as usual (not RFC 7797's unencoded form).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kubelite.api.core import Secret
from kubelite.api.meta import ObjectMeta
from kubelite.api.timeutil import format_time, parse_time_or_none

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
NAMESPACE = "kube-system"
USER_PREFIX = "system:bootstrap:"
GROUP = "system:bootstrappers"
DEFAULT_NODE_GROUP = "system:bootstrappers:kubeadm:default-node-token"
"""The extra group `kubelite token create` (like kubeadm) gives a token by default."""

TOKEN_ID_KEY = "token-id"
TOKEN_SECRET_KEY = "token-secret"
EXPIRATION_KEY = "expiration"
DESCRIPTION_KEY = "description"
EXTRA_GROUPS_KEY = "auth-extra-groups"
USAGE_PREFIX = "usage-bootstrap-"
USAGES = ("authentication", "signing")

JWS_KEY_PREFIX = "jws-kubeconfig-"
"""cluster-info's `jws-kubeconfig-<token-id>` keys (the bootstrap signer's)."""

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
TOKEN_ID_RE = re.compile(r"^[a-z0-9]{6}$")
GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")


class TokenError(ValueError):
    """A token, token id or token Secret that is not usable; the message says which part and why."""


@dataclass(frozen=True)
class BootstrapToken:
    """One bootstrap token as its Secret describes it."""

    id: str
    secret: str
    expiration: datetime | None = None
    description: str = ""
    usages: tuple[str, ...] = USAGES
    extra_groups: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list, compare=False)

    @property
    def token(self) -> str:
        return f"{self.id}.{self.secret}"

    @property
    def secret_name(self) -> str:
        return secret_name(self.id)

    def expired(self, now: datetime) -> bool:
        return self.expiration is not None and now >= self.expiration

    @property
    def user(self) -> str:
        return USER_PREFIX + self.id

    @property
    def groups(self) -> tuple[str, ...]:
        return (GROUP, *(g for g in self.extra_groups if g != GROUP))


def secret_name(token_id: str) -> str:
    return SECRET_PREFIX + token_id


def generate() -> str:
    """A fresh random token `<6>.<16>` from a cryptographic source."""
    pick = secrets.choice
    return "".join(pick(_ALPHABET) for _ in range(6)) + "." + "".join(pick(_ALPHABET) for _ in range(16))


def parse_token(token: str) -> tuple[str, str]:
    """(id, secret) of a token in Kubernetes' format; TokenError otherwise."""
    match = TOKEN_RE.match(token.strip())
    if match is None:
        raise TokenError(f"token {token!r} is not of the form [a-z0-9]{{6}}.[a-z0-9]{{16}}")
    return match.group(1), match.group(2)


def check_token_id(token_id: str) -> str:
    if not TOKEN_ID_RE.match(token_id):
        raise TokenError(f"token id {token_id!r} is not of the form [a-z0-9]{{6}}")
    return token_id


def check_groups(groups: list[str]) -> tuple[str, ...]:
    """Extra groups must start with `system:bootstrappers:` (Kubernetes refuses any other)."""
    for group in groups:
        if not GROUP_RE.match(group):
            raise TokenError(f"auth-extra-groups: {group!r} must match {GROUP_RE.pattern}")
    return tuple(groups)


def to_secret(token: BootstrapToken) -> Secret:
    """The Secret that stores `token` (string values; the apiserver encodes them)."""
    data = {TOKEN_ID_KEY: token.id, TOKEN_SECRET_KEY: token.secret}
    if token.expiration is not None:
        data[EXPIRATION_KEY] = format_time(token.expiration)
    if token.description:
        data[DESCRIPTION_KEY] = token.description
    for usage in token.usages:
        data[USAGE_PREFIX + usage] = "true"
    if token.extra_groups:
        data[EXTRA_GROUPS_KEY] = ",".join(token.extra_groups)
    return Secret(metadata=ObjectMeta(name=token.secret_name, namespace=NAMESPACE), type=SECRET_TYPE,
                  string_data=data)


def new_token(now: datetime, ttl: timedelta | None, description: str = "",
              usages: tuple[str, ...] = USAGES, extra_groups: tuple[str, ...] = (DEFAULT_NODE_GROUP,),
              token: str = "") -> BootstrapToken:
    """A token (random unless given) expiring `ttl` after `now` (None or zero: never)."""
    token_id, token_secret = parse_token(token or generate())
    for usage in usages:
        if usage not in USAGES:
            raise TokenError(f"usages: {usage!r} is not one of {', '.join(USAGES)}")
    expiration = now + ttl if ttl else None
    return BootstrapToken(token_id, token_secret, expiration, description, usages, check_groups(list(extra_groups)))


def _decoded(data: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        try:
            out[key] = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return out


def from_secret(secret: Secret) -> BootstrapToken | None:
    """The token a Secret stores, or None when it is not a bootstrap-token Secret at all.

    A bootstrap-token Secret whose fields do not hold together (id not matching
    the name, bad secret, unparsable expiration) still comes back, with
    `problems` saying what is wrong: such a token authenticates nobody.
    """
    if secret.type != SECRET_TYPE or not (secret.metadata.name or "").startswith(SECRET_PREFIX):
        return None
    data = {**_decoded(secret.data), **secret.string_data}
    problems: list[str] = []
    token_id, token_secret = data.get(TOKEN_ID_KEY, ""), data.get(TOKEN_SECRET_KEY, "")
    if not TOKEN_RE.match(f"{token_id}.{token_secret}"):
        problems.append("token-id/token-secret are not of the form [a-z0-9]{6} / [a-z0-9]{16}")
    if secret.metadata.name != secret_name(token_id):
        problems.append(f"token-id {token_id!r} does not match the Secret name {secret.metadata.name!r}")
    expiration = None
    if data.get(EXPIRATION_KEY):
        expiration = parse_time_or_none(data[EXPIRATION_KEY])
        if expiration is None:
            problems.append(f"expiration {data[EXPIRATION_KEY]!r} is not an RFC 3339 time")
    usages = tuple(u for u in USAGES if data.get(USAGE_PREFIX + u) == "true")
    groups = [g.strip() for g in data.get(EXTRA_GROUPS_KEY, "").split(",") if g.strip()]
    try:
        extra = check_groups(groups)
    except TokenError as exc:
        problems.append(str(exc))
        extra = ()
    return BootstrapToken(token_id, token_secret, expiration, data.get(DESCRIPTION_KEY, ""), usages, extra,
                          problems)


def authenticates(stored: BootstrapToken | None, presented: str, now: datetime) -> bool:
    """Whether `presented` is `stored`'s token and may authenticate now (constant-time compare)."""
    if stored is None or stored.problems or "authentication" not in stored.usages or stored.expired(now):
        return False
    return secrets.compare_digest(stored.token, presented)


# ---- the detached JWS over cluster-info ----------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_detached(payload: str, token: str) -> str:
    """`header..signature`: HS256 over `payload` keyed by the whole token, kid = token id."""
    from jwt.api_jws import PyJWS  # PyJWT (and urllib.request, http.client, email): only when signing

    token_id, _ = parse_token(token)
    compact = PyJWS().encode(payload.encode(), token.encode(), algorithm="HS256",
                             headers={"kid": token_id, "typ": None})
    header, _, signature = compact.split(".")
    return f"{header}..{signature}"


def verify_detached(signature: str, payload: str, token: str) -> bool:
    """Whether `signature` (detached JWS) signs `payload` with `token` (HS256 only, kid must be the id)."""
    import jwt  # only when verifying (see sign_detached)
    from jwt.api_jws import PyJWS

    token_id, _ = parse_token(token)
    parts = signature.split(".")
    if len(parts) != 3 or parts[1]:
        return False
    compact = f"{parts[0]}.{_b64(payload.encode())}.{parts[2]}"
    try:
        header = PyJWS().get_unverified_header(compact)
        if header.get("kid") != token_id:
            return False
        PyJWS().decode(compact, token.encode(), algorithms=["HS256"])
    except jwt.PyJWTError:
        return False
    return True

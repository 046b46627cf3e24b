"""Authenticators: credentials in, `UserInfo` out, chained like Kubernetes'.

Why this shape: Kubernetes runs a union of request authenticators (client
certificate, bearer tokens from several sources) and falls back to the
anonymous user only when the request carried no credentials at all; a token
that identifies nobody is a 401, never anonymous. Adapters extract the
credentials from their transport (`Credentials`), so nothing here knows gRPC.

Token sources are pluggable (`TokenAuthenticator`): the static token file is
one, ServiceAccount JWTs (`apiserver.serviceaccount.authenticator`) another.
A source may answer synchronously (a dict lookup) or be a coroutine (the JWT
validator reads the bound Pod and ServiceAccount), which is why the chain's
`authenticate` is async.
"""

from __future__ import annotations

import csv
import inspect
import io
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.x509.oid import NameOID

from apiserver.authn.user import ALL_AUTHENTICATED, ANONYMOUS_USER, UserInfo
from kubelite.api.errors import Unauthorized

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """What one request presented, whatever the transport.

    `client_certificate_pem` is the peer certificate the TLS layer has already
    verified against the client CA (an adapter must never fill it from
    anything the client merely claims); `client_common_name` is the same
    certificate's CN when the transport exposes only that.
    """

    bearer_token: str = ""
    client_certificate_pem: bytes = b""
    client_common_name: str = ""

    @property
    def empty(self) -> bool:
        return not (self.bearer_token or self.client_certificate_pem or self.client_common_name)


def parse_authorization(value: str) -> str:
    """The token of an `Authorization: Bearer <token>` value ("" if it is not a bearer token)."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


class TokenAuthenticator(Protocol):
    """One source of bearer tokens: the user a token names, or None when the token is not its own
    (a coroutine may answer instead, for sources that must read the store)."""

    def authenticate_token(self, token: str) -> UserInfo | None | Awaitable[UserInfo | None]: ...


class ServiceAccountTokenAuthenticator(TokenAuthenticator, Protocol):
    """The hook for ServiceAccount JWTs (signed by the service-account key, claims naming
    namespace and account). Implementations answer `system:serviceaccount:<ns>:<name>` in groups
    `system:serviceaccounts` and `system:serviceaccounts:<ns>` (see `user.service_account_groups`)."""


# ---- static token file -------------------------------------------------------------------


class TokenFileError(ValueError):
    """The --token-auth-file cannot be used; the message names the file and record."""


def parse_token_file(text: str, source: str = "token file") -> dict[str, UserInfo]:
    """Kubernetes' static token CSV: `token,user,uid[,"group1,group2"]` per record.

    Fewer than three columns is an error; blank records and empty tokens are
    skipped with a warning; a later duplicate token wins (with a warning).
    """
    tokens: dict[str, UserInfo] = {}
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    for number, record in enumerate(reader, start=1):
        if not record or all(not field.strip() for field in record):
            continue
        if len(record) < 3:
            raise TokenFileError(f"{source}, record {number}: expected token,user,uid[,groups], "
                                 f"got {len(record)} column(s)")
        token, name, uid = (field.strip() for field in record[:3])
        if not token:
            log.warning("empty token in token file", extra={"file": source, "record": number})
            continue
        if not name:
            raise TokenFileError(f"{source}, record {number}: user name must not be empty")
        groups: tuple[str, ...] = ()
        if len(record) > 3:
            groups = tuple(g.strip() for g in record[3].split(",") if g.strip())
        if token in tokens:
            log.warning("duplicate token in token file", extra={"file": source, "record": number})
        tokens[token] = UserInfo(name, groups, uid)
    return tokens


class TokenFileAuthenticator:
    """`--token-auth-file`: bearer tokens listed in a CSV file, read once at start."""

    def __init__(self, tokens: dict[str, UserInfo]) -> None:
        self._tokens = dict(tokens)

    @classmethod
    def from_file(cls, path: str | Path) -> TokenFileAuthenticator:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenFileError(f"cannot read token file {path}: {exc.strerror or exc}") from exc
        return cls(parse_token_file(text, str(path)))

    def authenticate_token(self, token: str) -> UserInfo | None:
        return self._tokens.get(token)


# ---- x509 client certificates -------------------------------------------------------------


def user_from_certificate(pem: bytes) -> UserInfo:
    """Kubernetes' x509 mapping: subject CN is the user name, each O an group.

    Raises ValueError for a PEM that is not a certificate or has no CN.
    """
    cert = x509.load_pem_x509_certificate(pem)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    if not common_name:
        raise ValueError("client certificate has no subject common name")
    groups = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return UserInfo(common_name, groups)


# ---- the chain -------------------------------------------------------------------------------


class Authentication:
    """The request authenticator: client certificate, then bearer tokens, then anonymous.

    Every user it authenticates is in `system:authenticated`; a request with
    no credentials is `system:anonymous` in `system:unauthenticated` when
    anonymous access is on, else refused (401) like Kubernetes'.
    """

    def __init__(self, tokens: Sequence[TokenAuthenticator] = (), *, anonymous: bool = True) -> None:
        self.tokens = list(tokens)
        self.anonymous = anonymous

    def add_token_authenticator(self, authenticator: TokenAuthenticator) -> None:
        """Plug in another token source (the ServiceAccount JWT authenticator)."""
        self.tokens.append(authenticator)

    async def authenticate(self, credentials: Credentials) -> UserInfo:
        user: UserInfo | None = None
        if credentials.client_certificate_pem:
            try:
                user = user_from_certificate(credentials.client_certificate_pem)
            except ValueError as exc:
                log.info("client certificate not usable", extra={"error": str(exc)})
        elif credentials.client_common_name:
            user = UserInfo(credentials.client_common_name)
        if user is None and credentials.bearer_token:
            for source in self.tokens:  # in order: the token file first, then ServiceAccount JWTs
                answer = source.authenticate_token(credentials.bearer_token)
                user = await answer if inspect.isawaitable(answer) else answer
                if user is not None:
                    break
            if user is None:
                raise Unauthorized("Unauthorized: invalid bearer token")
        if user is not None:
            return user.with_group(ALL_AUTHENTICATED)
        if not self.anonymous:
            raise Unauthorized("Unauthorized: no credentials and anonymous access is disabled")
        return ANONYMOUS_USER

"""Authentication: who is making a request (`UserInfo`), independent of the transport."""

from apiserver.authn.authenticators import (
    Authentication,
    Credentials,
    ServiceAccountTokenAuthenticator,
    TokenAuthenticator,
    TokenFileAuthenticator,
    TokenFileError,
    parse_authorization,
    parse_token_file,
    user_from_certificate,
)
from apiserver.authn.user import ANONYMOUS_USER, UserInfo

__all__ = [
    "ANONYMOUS_USER", "Authentication", "Credentials", "ServiceAccountTokenAuthenticator", "TokenAuthenticator",
    "TokenFileAuthenticator", "TokenFileError", "UserInfo", "parse_authorization", "parse_token_file",
    "user_from_certificate",
]

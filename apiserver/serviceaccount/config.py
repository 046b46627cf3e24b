"""The apiserver's ServiceAccount token settings (Kubernetes' flag names) and what they build.

    --service-account-signing-key-file FILE   private key that signs new tokens (TokenRequest)
    --service-account-key-file FILE           public keys that verify tokens (repeatable; default:
                                              the signing key's public half)
    --service-account-issuer URL              `iss` of new tokens; every value given is accepted
                                              when validating (the first one signs)
    --api-audiences A,B                       audiences the apiserver accepts (default: the issuer)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

from apiserver.serviceaccount.keys import (
    KeyFileError,
    SigningKeyType,
    VerificationKey,
    load_signing_key,
    load_verification_keys,
    public_key_of,
)
from apiserver.serviceaccount.tokens import DEFAULT_ISSUER, Getter, TokenIssuer, TokenValidator

DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600


@dataclass
class ServiceAccountConfig:
    signing_key: SigningKeyType | None = None
    keys: list[VerificationKey] = field(default_factory=list)
    issuers: list[str] = field(default_factory=lambda: [DEFAULT_ISSUER])
    audiences: list[str] = field(default_factory=list)
    max_expiration_seconds: int = 0  # 0: no cap

    @property
    def api_audiences(self) -> list[str]:
        return self.audiences or self.issuers[:1]

    def issuer(self) -> TokenIssuer | None:
        if self.signing_key is None:
            return None
        return TokenIssuer(self.signing_key, self.issuers[0])

    def validator(self, getter: Getter | None) -> TokenValidator:
        keys = list(self.keys)
        if self.signing_key is not None:
            own = public_key_of(self.signing_key)
            if all(k.kid != own.kid for k in keys):
                keys.append(own)
        return TokenValidator(keys, self.issuers, self.api_audiences, getter)

    @classmethod
    def from_files(cls, signing_key_file: str = "", key_files: Sequence[str] = (),
                   issuers: Sequence[str] = (), audiences: Sequence[str] = (),
                   max_expiration_seconds: int = 0) -> ServiceAccountConfig:
        """Load the key files; KeyFileError names the file that failed."""
        cfg = cls(max_expiration_seconds=max_expiration_seconds)
        if signing_key_file:
            cfg.signing_key = load_signing_key(signing_key_file)
        for path in key_files:
            cfg.keys.extend(load_verification_keys(path))
        if issuers:
            cfg.issuers = list(issuers)
        cfg.audiences = list(audiences)
        return cfg


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service-account-signing-key-file", default="", metavar="FILE",
                        help="PEM private key (RSA or EC P-256) that signs ServiceAccount tokens")
    parser.add_argument("--service-account-key-file", action="append", default=[], metavar="FILE",
                        help="PEM public keys that verify ServiceAccount tokens (repeatable)")
    parser.add_argument("--service-account-issuer", action="append", default=[], metavar="URL",
                        help=f"issuer of ServiceAccount tokens (repeatable; default {DEFAULT_ISSUER})")
    parser.add_argument("--api-audiences", default="", metavar="A,B",
                        help="audiences the API accepts in tokens (default: the issuer)")
    parser.add_argument("--service-account-max-token-expiration", type=int, default=0, metavar="SECONDS",
                        help="cap on a requested token's lifetime (0: none)")


def from_args(args: argparse.Namespace) -> ServiceAccountConfig:
    """The config the flags describe; raises KeyFileError for an unusable key file."""
    audiences = [a.strip() for a in args.api_audiences.split(",") if a.strip()]
    return ServiceAccountConfig.from_files(args.service_account_signing_key_file, args.service_account_key_file,
                                           args.service_account_issuer, audiences,
                                           args.service_account_max_token_expiration)


__all__ = ["DEFAULT_EXPIRATION_SECONDS", "MIN_EXPIRATION_SECONDS", "KeyFileError", "ServiceAccountConfig",
           "add_flags", "from_args"]

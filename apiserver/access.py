"""Access control in front of the typed core: authenticate, impersonate, authorize -- and the self-reviews.

Why one object: every adapter (gRPC and HTTP) hands this the same
three things -- the request's `Credentials`, an optional impersonation, and
the request `Attributes` -- and gets a `UserInfo` or an ApiError back, so the
rules cannot differ between transports. `current_user` carries the decided
user through the call (a context variable: each request runs in its own
task), for handlers that answer about the caller (SelfSubjectReview).

SelfSubjectAccessReview and SelfSubjectReview are answered here, not stored:
they ask this object about the caller, exactly as Kubernetes answers them.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from apiserver.authn import Authentication, Credentials, TokenAuthenticator, TokenFileAuthenticator, UserInfo
from apiserver.authn.bootstrap import BootstrapTokenAuthenticator
from apiserver.authn.user import (
    ALL_AUTHENTICATED,
    ANONYMOUS,
    ANONYMOUS_USER,
    service_account_groups,
    split_service_account,
)
from apiserver.authz import Attributes, Authorizer, build_authorizer, forbidden, parse_modes
from apiserver.authz.rules import rules_for
from apiserver.authz.sources import CacheGraph, CachePolicy
from apiserver.objects import parse_body
from apiserver.watchcache import WatchCache
from kubelite.api.errors import ApiError, BadRequest, Invalid, StatusCause
from kubelite.api.rbac import (
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_REVIEWS,
    SELF_SUBJECT_RULES_REVIEWS,
    SelfSubjectAccessReview,
    SelfSubjectReview,
    SelfSubjectRulesReview,
    SubjectAccessReviewStatus,
    SubjectRulesReviewStatus,
    UserInfoStatus,
)
from kubelite.api.selectors import parse_field_selector

log = logging.getLogger(__name__)

current_user: contextvars.ContextVar[UserInfo | None] = contextvars.ContextVar("kubelite_user", default=None)

REVIEW_GROUPS = {SELF_SUBJECT_ACCESS_REVIEWS: "authorization.k8s.io", SELF_SUBJECT_RULES_REVIEWS: "authorization.k8s.io",
                 SELF_SUBJECT_REVIEWS: "authentication.k8s.io"}


@dataclass(frozen=True)
class AccessOptions:
    """The apiserver's --authorization-mode, --token-auth-file, --anonymous-auth and
    --enable-bootstrap-token-auth."""

    authorization_modes: tuple[str, ...] = ("AlwaysAllow",)
    token_auth_file: str | None = None
    anonymous_auth: bool = True
    bootstrap_token_auth: bool = False

    @classmethod
    def parse(cls, modes: str = "AlwaysAllow", token_auth_file: str | None = None,
              anonymous_auth: bool = True, bootstrap_token_auth: bool = False) -> AccessOptions:
        return cls(parse_modes(modes), token_auth_file or None, anonymous_auth, bootstrap_token_auth)

    @property
    def rbac(self) -> bool:
        return "RBAC" in self.authorization_modes


@dataclass(frozen=True)
class Impersonation:
    """`--as` / `--as-group` / `--as-uid`: act as another user, if allowed to impersonate it."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class AccessControl:
    """Authentication + impersonation + authorization for every request, whatever its transport."""

    def __init__(self, authentication: Authentication, authorizer: Authorizer, options: AccessOptions) -> None:
        self.authentication = authentication
        self.authorizer = authorizer
        self.options = options

    @classmethod
    def build(cls, options: AccessOptions, caches: Mapping[str, WatchCache]) -> AccessControl:
        """The access control an apiserver with `options` runs (reads its token file now)."""
        tokens: list[TokenAuthenticator] = []
        if options.token_auth_file:
            tokens.append(TokenFileAuthenticator.from_file(options.token_auth_file))
        if options.bootstrap_token_auth:
            tokens.append(BootstrapTokenAuthenticator(caches))
        authentication = Authentication(tokens, anonymous=options.anonymous_auth)
        authorizer = build_authorizer(options.authorization_modes, CachePolicy(caches), CacheGraph(caches))
        return cls(authentication, authorizer, options)

    # ---- per request -------------------------------------------------------------------------

    async def authenticate(self, credentials: Credentials, impersonation: Impersonation | None = None) -> UserInfo:
        """The user the request acts as (Unauthorized, or Forbidden for a refused impersonation)."""
        user = await self.authentication.authenticate(credentials)
        return self.impersonate(user, impersonation) if impersonation is not None else user

    def impersonate(self, user: UserInfo, imp: Impersonation) -> UserInfo:
        """Kubernetes' impersonation: `impersonate` on users (or serviceaccounts), groups, uids, userextras."""
        sa = split_service_account(imp.user)
        if sa is not None:
            self.authorize(Attributes(user, "impersonate", "serviceaccounts", namespace=sa[0], name=sa[1]))
        else:
            self.authorize(Attributes(user, "impersonate", "users", name=imp.user))
        for group in imp.groups:
            self.authorize(Attributes(user, "impersonate", "groups", name=group))
        if imp.uid:
            self.authorize(Attributes(user, "impersonate", "uids", api_group="authentication.k8s.io", name=imp.uid))
        for key, values in imp.extra.items():
            for value in values:
                self.authorize(Attributes(user, "impersonate", "userextras", api_group="authentication.k8s.io",
                                          subresource=key, name=value))
        groups = list(imp.groups)
        if sa is not None:
            groups.extend(g for g in service_account_groups(sa[0]) if g not in groups)
        result = UserInfo(imp.user, tuple(groups), imp.uid, dict(imp.extra))
        log.info("impersonating", extra={"user": user.name, "as": imp.user})
        return result if imp.user == ANONYMOUS else result.with_group(ALL_AUTHENTICATED)

    def allowed(self, attrs: Attributes) -> tuple[bool, str]:
        verdict = self.authorizer.authorize(attrs)
        return verdict.allowed, verdict.reason

    def authorize(self, attrs: Attributes) -> None:
        """Raise Kubernetes' Forbidden unless some authorizer allows `attrs`."""
        verdict = self.authorizer.authorize(attrs)
        if not verdict.allowed:
            raise forbidden(attrs, verdict.reason)

    # ---- self reviews ------------------------------------------------------------------------

    def review(self, resource: str, body: bytes, user: UserInfo | None) -> bytes:
        """Answer a create of a SelfSubjectAccessReview, SelfSubjectRulesReview or SelfSubjectReview about `user`."""
        user = user or ANONYMOUS_USER
        data = parse_body(body or b"{}")
        if resource == SELF_SUBJECT_REVIEWS:
            review = SelfSubjectReview.from_dict(data)
            review.status.user_info = UserInfoStatus(
                username=user.name, uid=user.uid or None, groups=list(user.groups),
                extra={k: list(v) for k, v in user.extra.items()})
            return json.dumps(review.to_dict()).encode()
        if resource == SELF_SUBJECT_RULES_REVIEWS:
            rules_review = SelfSubjectRulesReview.from_dict(data)
            found = rules_for(self.authorizer, user, rules_review.spec.namespace)
            rules_review.status = SubjectRulesReviewStatus(
                resource_rules=found.resource_rules, non_resource_rules=found.non_resource_rules,
                incomplete=found.incomplete, evaluation_error="; ".join(found.errors) or None)
            return json.dumps(rules_review.to_dict()).encode()
        access = SelfSubjectAccessReview.from_dict(data)
        attrs = review_attributes(access, user)
        allowed, reason = self.allowed(attrs)
        access.status = SubjectAccessReviewStatus(allowed=allowed, reason=reason or None)
        return json.dumps(access.to_dict()).encode()


def review_attributes(review: SelfSubjectAccessReview, user: UserInfo) -> Attributes:
    resource, non_resource = review.spec.resource_attributes, review.spec.non_resource_attributes
    if (resource is None) == (non_resource is None):
        raise Invalid.for_object("SelfSubjectAccessReview", None, [StatusCause.invalid(
            "spec", review.spec.to_dict(), "exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    if resource is not None:
        return Attributes(user, resource.verb, resource.resource, api_group=resource.group,
                          subresource=resource.subresource, namespace=resource.namespace, name=resource.name)
    assert non_resource is not None
    return Attributes(user, non_resource.verb, path=non_resource.path)


@contextmanager
def acting_as(user: UserInfo) -> Iterator[None]:
    """Run handlers as `user` (in-process callers and tests; the gRPC adapter sets it per request)."""
    token = current_user.set(user)
    try:
        yield
    finally:
        current_user.reset(token)


IMPERSONATE_USER = "impersonate-user"
IMPERSONATE_GROUP = "impersonate-group"
IMPERSONATE_UID = "impersonate-uid"
IMPERSONATE_EXTRA = "impersonate-extra-"


def impersonation_from(pairs: Iterable[tuple[str, str]]) -> Impersonation | None:
    """Kubernetes' impersonation headers -- gRPC metadata or HTTP headers, as (name, value)
    pairs; repeated groups and extras add values. One parser for both adapters."""
    user, uid = "", ""
    groups: list[str] = []
    extra: dict[str, tuple[str, ...]] = {}
    for key, value in pairs:
        key = key.lower()
        if key == IMPERSONATE_USER:
            user = value
        elif key == IMPERSONATE_GROUP:
            groups.append(value)
        elif key == IMPERSONATE_UID:
            uid = value
        elif key.startswith(IMPERSONATE_EXTRA):
            name = key[len(IMPERSONATE_EXTRA):]
            extra[name] = (*extra.get(name, ()), value)
    if not user:
        if groups or uid or extra:
            raise BadRequest("impersonating groups, uid or extras requires impersonating a user")
        return None
    return Impersonation(user, tuple(groups), uid, extra)


def pinned_name(field_selector: str) -> str:
    """A list/watch with `metadata.name=X` is about the one object X (Kubernetes sets the name)."""
    if "metadata.name" not in field_selector:
        return ""
    try:
        return parse_field_selector(field_selector).exact("metadata.name") or ""
    except (ApiError, ValueError):  # a bad selector is the request handler's BadRequest to give
        return ""


def _body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        return {}  # the handler refuses the body with a 400 after authorization
    return data if isinstance(data, dict) else {}


def _field(data: dict[str, Any], *path: str) -> str:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def created_name(body: bytes) -> str:
    """The name a create's JSON body gives its object ("" when none or unparsable: the handler reports it)."""
    return _field(_body(body), "metadata", "name")


def bound_pod_of(body: bytes) -> str:
    """The Pod a TokenRequest body binds its token to ("" when none)."""
    data = _body(body)
    if _field(data, "spec", "boundObjectRef", "kind") != "Pod":
        return ""
    return _field(data, "spec", "boundObjectRef", "name")

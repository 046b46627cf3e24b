"""What an authorizer decides on: request attributes, decisions, the Authorizer protocol, the union.

Why Kubernetes' model: every request, whatever its transport, reduces to
(user, verb, apiGroup, resource, subresource, namespace, name) or to (user,
verb, path) for non-resource requests; authorizers are asked in order and the
first that allows or denies wins, "no opinion" passes to the next. The
Forbidden message is Kubernetes' word for word, so scripts and people that
read kubectl's errors read ours.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from apiserver.authn.user import MASTERS, UserInfo
from kubelite.api.errors import Forbidden

READ_VERBS = frozenset({"get", "list", "watch"})


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


@dataclass(frozen=True)
class Attributes:
    """One request as an authorizer sees it.

    `namespace` is "" for cluster-scoped resources and for lists/watches across
    all namespaces; `name` is "" for create, list and watch (unless a list or
    watch is pinned to one object with `metadata.name=`), as in Kubernetes.
    `path` is set only for non-resource requests. `body_name` is the name of
    the object a create carries: only NodeRestriction reads it (RBAC, like
    Kubernetes, never restricts create by name). `bound_pod` is the Pod a
    TokenRequest (create `serviceaccounts/token`) binds its token to: the Node
    authorizer lets a kubelet ask tokens only for its own pods.
    """

    user: UserInfo
    verb: str
    resource: str = ""
    api_group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    body_name: str = ""
    bound_pod: str = ""

    @property
    def resource_request(self) -> bool:
        return not self.path

    @property
    def read_only(self) -> bool:
        return self.verb in READ_VERBS


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


ALLOW = Verdict(Decision.ALLOW)
NO_OPINION = Verdict(Decision.NO_OPINION)


class Authorizer(Protocol):
    """Decides one request; synchronous, since it reads in-memory state (caches) only."""

    def authorize(self, attrs: Attributes) -> Verdict: ...


class AlwaysAllow:
    def authorize(self, attrs: Attributes) -> Verdict:
        return ALLOW


class AlwaysDeny:
    def authorize(self, attrs: Attributes) -> Verdict:
        return Verdict(Decision.NO_OPINION, "everything is denied")


class Privileged:
    """`system:masters` may do anything, before any other authorizer is asked (Kubernetes' rule)."""

    def authorize(self, attrs: Attributes) -> Verdict:
        return ALLOW if self.authorize_all(attrs.user) else NO_OPINION

    @staticmethod
    def authorize_all(user: UserInfo) -> bool:
        return MASTERS in user.groups


class Union:
    """Ask each authorizer in order; the first ALLOW or DENY decides, else NO_OPINION."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = list(authorizers)

    def authorize(self, attrs: Attributes) -> Verdict:
        reasons: list[str] = []
        for authorizer in self.authorizers:
            verdict = authorizer.authorize(attrs)
            if verdict.decision is not Decision.NO_OPINION:
                return verdict
            if verdict.reason:
                reasons.append(verdict.reason)
        return Verdict(Decision.NO_OPINION, "; ".join(reasons))


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """Kubernetes' wording, e.g. `pods is forbidden: User "x" cannot list resource "pods" in API
    group "" in the namespace "default"` (with `: <reason>` when an authorizer gave one)."""
    user = attrs.user.name
    if not attrs.resource_request:
        message = f'forbidden: User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
        qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
        if attrs.name:
            qualified += f' "{attrs.name}"'
        message = (f'{qualified} is forbidden: User "{user}" cannot {attrs.verb} resource "{resource}" '
                   f'in API group "{attrs.api_group}"')
        message += f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    return f"{message}: {reason}" if reason else message


def forbidden(attrs: Attributes, reason: str = "") -> Forbidden:
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    return Forbidden(forbidden_message(attrs, reason), name=attrs.name or None, kind=qualified or None)

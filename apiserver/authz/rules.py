"""What may this user do in a namespace? -- the rule list behind SelfSubjectRulesReview.

Why here, next to the authorizers: the answer must come from the same chain
that decides each request, so it walks `build_authorizer`'s chain in order:
`system:masters` and AlwaysAllow grant everything, RBAC contributes every rule
bound to the user (RbacAuthorizer.rules_for, the evaluator's own source), and
an authorizer that cannot list what it allows (Node) makes the answer
`incomplete`, as Kubernetes reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apiserver.authn import UserInfo
from apiserver.authn.user import NODES_GROUP
from apiserver.authz.attributes import AlwaysAllow, Authorizer, Privileged, Union
from apiserver.authz.node import NodeAuthorizer
from apiserver.authz.rbac import RbacAuthorizer
from kubelite.api.rbac import NonResourceRule, ResourceRule

NODE_UNLISTABLE = "node authorizer does not support user rule resolution"


@dataclass
class RuleList:
    resource_rules: list[ResourceRule] = field(default_factory=list)
    non_resource_rules: list[NonResourceRule] = field(default_factory=list)
    incomplete: bool = False
    errors: list[str] = field(default_factory=list)

    def grant_all(self) -> None:
        self.resource_rules.append(ResourceRule(verbs=["*"], api_groups=["*"], resources=["*"]))
        self.non_resource_rules.append(NonResourceRule(verbs=["*"], non_resource_urls=["*"]))


def rules_for(authorizer: Authorizer, user: UserInfo, namespace: str) -> RuleList:
    """Every rule the chain grants `user` in `namespace` (cluster-wide grants included)."""
    out = RuleList()
    chain = authorizer.authorizers if isinstance(authorizer, Union) else [authorizer]
    for one in chain:
        if isinstance(one, Privileged):
            if one.authorize_all(user):
                out.grant_all()
        elif isinstance(one, AlwaysAllow):
            out.grant_all()
        elif isinstance(one, RbacAuthorizer):
            for rule in one.rules_for(user, namespace):
                if rule.non_resource_urls:
                    out.non_resource_rules.append(NonResourceRule(verbs=list(rule.verbs),
                                                                  non_resource_urls=list(rule.non_resource_urls)))
                if rule.resources:
                    out.resource_rules.append(ResourceRule(
                        verbs=list(rule.verbs), api_groups=list(rule.api_groups), resources=list(rule.resources),
                        resource_names=list(rule.resource_names)))
        elif isinstance(one, NodeAuthorizer) and NODES_GROUP in user.groups:
            out.incomplete = True
            out.errors.append(NODE_UNLISTABLE)
    return out

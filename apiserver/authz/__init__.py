"""Authorization: may this user do this to that? Modes AlwaysAllow, AlwaysDeny, Node, RBAC.

`build_authorizer` chains the modes in the order given, behind the
`system:masters` short-cut, exactly as Kubernetes' --authorization-mode does.
"""

from __future__ import annotations

from collections.abc import Sequence

from apiserver.authz.attributes import (
    ALLOW,
    NO_OPINION,
    AlwaysAllow,
    AlwaysDeny,
    Attributes,
    Authorizer,
    Decision,
    Privileged,
    Union,
    Verdict,
    forbidden,
    forbidden_message,
)
from apiserver.authz.node import NodeAuthorizer, NodeGraph
from apiserver.authz.rbac import PolicySource, RbacAuthorizer

MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")

__all__ = [
    "ALLOW", "MODES", "NO_OPINION", "AlwaysAllow", "AlwaysDeny", "Attributes", "Authorizer", "Decision",
    "NodeAuthorizer", "Privileged", "RbacAuthorizer", "Union", "Verdict", "build_authorizer", "forbidden",
    "forbidden_message", "parse_modes",
]


def parse_modes(text: str) -> tuple[str, ...]:
    """`"Node,RBAC"` -> ("Node", "RBAC"); ValueError naming an unknown or repeated mode."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    if not modes:
        raise ValueError("at least one authorization mode is required")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown authorization mode {mode!r} (known: {', '.join(MODES)})")
    if len(set(modes)) != len(modes):
        raise ValueError(f"authorization mode repeated in {text!r}")
    return modes


def build_authorizer(modes: Sequence[str], policy: PolicySource, graph: NodeGraph) -> Authorizer:
    authorizers: list[Authorizer] = [Privileged()]
    for mode in modes:
        if mode == "AlwaysAllow":
            authorizers.append(AlwaysAllow())
        elif mode == "AlwaysDeny":
            authorizers.append(AlwaysDeny())
        elif mode == "Node":
            authorizers.append(NodeAuthorizer(graph))
        elif mode == "RBAC":
            authorizers.append(RbacAuthorizer(policy))
        else:
            raise ValueError(f"unknown authorization mode {mode!r}")
    return Union(authorizers)

"""NetworkPolicy (networking.k8s.io/v1): which traffic may reach and leave the pods it selects.

Why modelled strictly: every field here is enforced by the node proxy's
policy compiler (`kubelite.proxy.netpol`); a field kubelite could not honour
would fail decoding instead of being stored and silently ignored.
"""

from __future__ import annotations

from pydantic import Field

from kubelite.api.base import IntOrString, KubeModel
from kubelite.api.meta import LabelSelector, Resource


class IPBlock(KubeModel):
    cidr: str = ""
    except_: list[str] = Field(default_factory=list, alias="except")


class NetworkPolicyPeer(KubeModel):
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


class NetworkPolicyPort(KubeModel):
    protocol: str | None = None  # TCP (default), UDP, SCTP
    port: IntOrString | None = None  # number or named container port; None: every port
    end_port: int | None = None  # with a numeric port: the range port..endPort


class NetworkPolicyIngressRule(KubeModel):
    ports: list[NetworkPolicyPort] = Field(default_factory=list)
    from_: list[NetworkPolicyPeer] = Field(default_factory=list, alias="from")


class NetworkPolicyEgressRule(KubeModel):
    ports: list[NetworkPolicyPort] = Field(default_factory=list)
    to: list[NetworkPolicyPeer] = Field(default_factory=list)


class NetworkPolicySpec(KubeModel):
    pod_selector: LabelSelector = Field(default_factory=LabelSelector)
    ingress: list[NetworkPolicyIngressRule] = Field(default_factory=list)
    egress: list[NetworkPolicyEgressRule] = Field(default_factory=list)
    policy_types: list[str] = Field(default_factory=list)


class NetworkPolicy(Resource):
    """Selects pods of its namespace and allows listed traffic to (ingress) / from (egress) them;
    every other connection of a selected pod in a listed direction is dropped."""

    api_version: str = "networking.k8s.io/v1"
    kind: str = "NetworkPolicy"
    spec: NetworkPolicySpec = Field(default_factory=NetworkPolicySpec)


def policy_types(np: NetworkPolicy) -> tuple[bool, bool]:
    """(ingress, egress): the directions the policy isolates. Kubernetes' default when
    policyTypes is empty: Ingress always, Egress only if egress rules are given."""
    types = np.spec.policy_types
    if types:
        return "Ingress" in types, "Egress" in types
    return True, bool(np.spec.egress)

"""Validation of a NetworkPolicy: every cause names its field (`spec.ingress[0].from[1].ipBlock.cidr`).

Why its own module: the rules (CIDRs, `except` inside `cidr`, protocols, port
ranges, policyTypes) are the ones the policy compiler relies on, so an object
that passes here always compiles to iptables rules.
"""

from __future__ import annotations

import ipaddress

from kubelite.api.errors import StatusCause
from kubelite.api.fieldchecks import validate_selector
from kubelite.api.networking import IPBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort
from kubelite.api.podvalidation import PROTOCOLS, validate_int_or_name_port

POLICY_TYPES = ("Ingress", "Egress")


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _ip_block(block: IPBlock, path: str, out: list[StatusCause]) -> None:
    if not block.cidr:
        out.append(StatusCause.required(f"{path}.cidr"))
        return
    net = _network(block.cidr)
    if net is None:
        out.append(StatusCause.invalid(f"{path}.cidr", block.cidr, "must be a valid CIDR (e.g. 10.0.0.0/16)"))
        return
    for i, text in enumerate(block.except_):
        sub = _network(text)
        field = f"{path}.except[{i}]"
        if sub is None:
            out.append(StatusCause.invalid(field, text, "must be a valid CIDR (e.g. 10.0.1.0/24)"))
        elif sub.version != net.version or sub.prefixlen <= net.prefixlen or not sub.subnet_of(net):  # type: ignore[arg-type]
            out.append(StatusCause.invalid(field, text, f"must be a strict subset of `cidr` {block.cidr}"))


def _peer(peer: NetworkPolicyPeer, path: str, out: list[StatusCause]) -> None:


    if peer.ip_block is not None:
        if peer.pod_selector is not None or peer.namespace_selector is not None:
            out.append(StatusCause.forbidden(path, "may not specify both ipBlock and another peer"))
        _ip_block(peer.ip_block, f"{path}.ipBlock", out)
        return
    if peer.pod_selector is None and peer.namespace_selector is None:
        out.append(StatusCause.required(path, "must specify a peer (podSelector, namespaceSelector or ipBlock)"))
    validate_selector(peer.pod_selector, f"{path}.podSelector", out, required=False)
    validate_selector(peer.namespace_selector, f"{path}.namespaceSelector", out, required=False)


def _port(port: NetworkPolicyPort, path: str, out: list[StatusCause]) -> None:
    if port.protocol is not None and port.protocol not in PROTOCOLS:
        out.append(StatusCause.not_supported(f"{path}.protocol", port.protocol, PROTOCOLS))
    value = port.port
    if value is not None:
        validate_int_or_name_port(value, f"{path}.port", out)
    if port.end_port is None:
        return
    if not isinstance(value, int):
        out.append(StatusCause.invalid(f"{path}.endPort", port.end_port,
                                       "may only be given with a numeric `port`"))
    elif not value <= port.end_port <= 65535:
        out.append(StatusCause.invalid(f"{path}.endPort", port.end_port,
                                       f"must be between `port` ({value}) and 65535, inclusive"))


def validate_network_policy(np: NetworkPolicy, out: list[StatusCause]) -> None:


    spec = np.spec
    validate_selector(spec.pod_selector, "spec.podSelector", out)
    for i, kind in enumerate(spec.policy_types):
        if kind not in POLICY_TYPES:
            out.append(StatusCause.not_supported(f"spec.policyTypes[{i}]", kind, POLICY_TYPES))
    if len(set(spec.policy_types)) != len(spec.policy_types):
        out.append(StatusCause.invalid("spec.policyTypes", spec.policy_types, "must not repeat a type"))
    for i, rule in enumerate(spec.ingress):
        for j, peer in enumerate(rule.from_):
            _peer(peer, f"spec.ingress[{i}].from[{j}]", out)
        for j, port in enumerate(rule.ports):
            _port(port, f"spec.ingress[{i}].ports[{j}]", out)
    for i, erule in enumerate(spec.egress):
        for j, peer in enumerate(erule.to):
            _peer(peer, f"spec.egress[{i}].to[{j}]", out)
        for j, port in enumerate(erule.ports):
            _port(port, f"spec.egress[{i}].ports[{j}]", out)

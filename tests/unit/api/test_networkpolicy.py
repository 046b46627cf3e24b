"""NetworkPolicy validation names every bad field; the table shows POD-SELECTOR like kubectl."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import registry
from kubelite.api.columns import table_for
from kubelite.api.errors import Invalid
from kubelite.api.networking import NetworkPolicy, policy_types
from kubelite.api.validation import validate


def netpol(spec: dict[str, Any]) -> NetworkPolicy:
    obj = registry.decode({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                           "metadata": {"name": "p", "namespace": "app"}, "spec": spec})
    assert isinstance(obj, NetworkPolicy)
    return obj


def fields(spec: dict[str, Any]) -> list[str]:
    return [c.field for c in validate(netpol(spec))]


@pytest.mark.parametrize(("spec", "want"), [
    ({"podSelector": {}}, []),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
     ["spec.ingress[0].from[0].ipBlock.cidr"]),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/24"]}}]}]},
     ["spec.egress[0].to[0].ipBlock.except[0]"]),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]},
     ["spec.egress[0].to[0].ipBlock.except[0]"]),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
     ["spec.ingress[0].from[0]"]),
    ({"podSelector": {}, "ingress": [{"from": [{}]}]}, ["spec.ingress[0].from[0]"]),
    ({"podSelector": {}, "policyTypes": ["Ingress", "Sideways"]}, ["spec.policyTypes[1]"]),
    ({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}, ["spec.ingress[0].ports[0].protocol"]),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}, ["spec.ingress[0].ports[0].port"]),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "endPort": 79}]}]},
     ["spec.ingress[0].ports[0].endPort"]),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]},
     ["spec.ingress[0].ports[0].endPort"]),
    ({"podSelector": {"matchLabels": {"bad key!": "x"}}}, ["spec.podSelector.matchLabels"]),
])
def test_validation_names_the_field(spec: dict[str, Any], want: list[str]) -> None:
    got = fields(spec)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.startswith(w), (got, want)


def test_policy_types_default_like_kubernetes() -> None:
    assert policy_types(netpol({"podSelector": {}})) == (True, False)
    assert policy_types(netpol({"podSelector": {}, "egress": [{}]})) == (True, True)
    assert policy_types(netpol({"podSelector": {}, "policyTypes": ["Egress"]})) == (False, True)


def test_unknown_field_is_refused_not_dropped() -> None:
    with pytest.raises(Invalid, match=r"spec\.sctpMode: Unsupported field"):
        netpol({"podSelector": {}, "sctpMode": "x"})


def test_table_shows_the_pod_selector() -> None:
    objs = [netpol({"podSelector": {"matchLabels": {"role": "db"}}}).to_dict(), netpol({"podSelector": {}}).to_dict()]
    header, rows = table_for("NetworkPolicy", objs)
    assert header == ["NAME", "POD-SELECTOR", "AGE"]
    assert [r[:2] for r in rows] == [["p", "role=db"], ["p", "<none>"]]


def test_the_apiserver_strategy_answers_422_naming_the_cidr() -> None:
    from apiserver.strategy import Strategies  # the write path every create/update goes through

    info = registry.lookup("netpol")
    assert (info.group, info.resource, info.namespaced) == ("networking.k8s.io", "networkpolicies", True)
    obj = netpol({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "300.0.0.0/8"}}]}]})
    with pytest.raises(Invalid) as err:
        Strategies().of(info).validate(obj)
    assert err.value.code == 422
    assert "spec.ingress[0].from[0].ipBlock.cidr" in str(err.value)

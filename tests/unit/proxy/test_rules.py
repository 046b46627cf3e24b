"""The rules builder is a pure function of Services + ready Endpoints: exact chains, probabilities, names."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from kubelite.api import Endpoints, Service
from kubelite.proxy.model import Endpoint, ServicePort, ready_endpoints, service_ports
from kubelite.proxy.rules import (
    FILTER,
    JUMPS,
    NAT,
    RulesBuilder,
    RulesConfig,
    build_rules,
    is_owned_chain,
    probability,
    sep_chain,
    svc_chain,
)

CFG = RulesConfig(cluster_cidr="10.244.0.0/16")


def svc(name: str = "web", ns: str = "default", **spec: Any) -> Service:
    spec.setdefault("clusterIP", "10.96.0.10")
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": "web"}])
    return Service.from_dict({"metadata": {"name": name, "namespace": ns}, "spec": spec})


def eps(*subsets: dict[str, Any], name: str = "web", ns: str = "default") -> Endpoints:
    return Endpoints.from_dict({"metadata": {"name": name, "namespace": ns}, "subsets": list(subsets)})


def build(services: list[Service], endpoints: dict[str, Endpoints], cfg: RulesConfig = CFG) -> Any:
    ports = []
    for s in services:
        e = endpoints.get(f"{s.metadata.namespace}/{s.metadata.name}")
        ports += [(sp, ready_endpoints(sp, e)) for sp in service_ports(s)]
    return build_rules(ports, cfg)


THREE = eps({"addresses": [{"ip": "10.244.1.4"}, {"ip": "10.244.1.2"}, {"ip": "10.244.2.3"}],
             "notReadyAddresses": [{"ip": "10.244.9.9"}], "ports": [{"name": "http", "port": 8080}]})


def test_chain_names_are_kube_proxy_style_hashes_and_stable() -> None:
    sp = service_ports(svc())[0]
    digest = hashlib.sha256(b"default/web:httptcp").digest()
    assert svc_chain(sp) == "KUBE-SVC-" + base64.b32encode(digest).decode()[:16]
    ep = Endpoint("10.244.1.2", 8080)
    digest = hashlib.sha256(b"default/web:httptcp10.244.1.2:8080").digest()
    assert sep_chain(sp, ep) == "KUBE-SEP-" + base64.b32encode(digest).decode()[:16]
    assert len(svc_chain(sp)) <= 28  # iptables chain names are limited to 28 characters
    other = service_ports(svc(ports=[{"name": "http", "port": 80, "protocol": "UDP"}]))[0]
    assert svc_chain(other) != svc_chain(sp)


def test_cluster_ip_service_exact_nat_chains() -> None:
    rs = build([svc()], {"default/web": THREE})
    sp = service_ports(svc())[0]
    s = svc_chain(sp)
    e1, e2, e3 = (sep_chain(sp, Endpoint(ip, 8080)) for ip in ("10.244.1.2", "10.244.1.4", "10.244.2.3"))
    assert rs.chains[(NAT, "KUBE-SERVICES")] == [
        f'-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment "default/web:http cluster IP" -j {s}',
        '-A KUBE-SERVICES ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment "kubernetes service nodeports; '
        'NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS',
    ]
    assert rs.chains[(NAT, s)] == [
        f'-A {s} ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment '
        f'"default/web:http cluster IP" -j KUBE-MARK-MASQ',
        f'-A {s} -m comment --comment "default/web:http -> 10.244.1.2:8080" -m statistic --mode random '
        f'--probability 0.3333333333 -j {e1}',
        f'-A {s} -m comment --comment "default/web:http -> 10.244.1.4:8080" -m statistic --mode random '
        f'--probability 0.5000000000 -j {e2}',
        f'-A {s} -m comment --comment "default/web:http -> 10.244.2.3:8080" -j {e3}',
    ]
    assert rs.chains[(NAT, e1)] == [
        f'-A {e1} -s 10.244.1.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ',  # hairpin
        f'-A {e1} -p tcp -m tcp -m comment --comment "default/web:http" -j DNAT --to-destination 10.244.1.2:8080',
    ]
    assert rs.groups == {s: [s, e1, e2, e3]}
    assert rs.chains[(NAT, "KUBE-MARK-MASQ")] == ["-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"]
    assert rs.chains[(NAT, "KUBE-POSTROUTING")] == [
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    ]
    assert rs.chains[(FILTER, "KUBE-SERVICES")] == []
    assert "10.244.9.9" not in rs.render()  # not-ready endpoints are never targets


def test_probabilities_spread_load_evenly() -> None:
    for n in range(1, 8):
        left = 1.0
        for i in range(n):
            p = 1.0 if i == n - 1 else float(probability(i, n))
            assert abs(left * p - 1.0 / n) < 1e-9  # every endpoint gets 1/n overall
            left *= 1 - p
    assert [probability(i, 4) for i in range(3)] == ["0.2500000000", "0.3333333333", "0.5000000000"]
    one = build([svc()], {"default/web": eps({"addresses": [{"ip": "10.244.1.2"}], "ports": [{"name": "http", "port": 1}]})})
    s = svc_chain(service_ports(svc())[0])
    assert not any("statistic" in r for r in one.chains[(NAT, s)])


def test_node_port_masquerades_and_jumps_to_the_service_chain_on_local_addresses() -> None:
    s_obj = svc(type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080}])
    rs = build([s_obj], {"default/web": THREE})
    s = svc_chain(service_ports(s_obj)[0])
    assert rs.chains[(NAT, "KUBE-NODEPORTS")] == [
        '-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ',
        f'-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080 -m comment --comment "default/web:http" -j {s}',
    ]
    assert "--dst-type LOCAL" in rs.chains[(NAT, "KUBE-SERVICES")][-1]
    # a ClusterIP service that happens to carry a nodePort value gets no NodePort rule
    plain = build([svc(ports=[{"name": "http", "port": 80, "nodePort": 30080}])], {"default/web": THREE})
    assert plain.chains[(NAT, "KUBE-NODEPORTS")] == []


def test_client_ip_affinity_checks_then_sets_recent_lists() -> None:
    s_obj = svc(sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})
    rs = build([s_obj], {"default/web": THREE})
    sp = service_ports(s_obj)[0]
    s = svc_chain(sp)
    seps = [sep_chain(sp, Endpoint(ip, 8080)) for ip in ("10.244.1.2", "10.244.1.4", "10.244.2.3")]
    rules = rs.chains[(NAT, s)]
    checks = [r for r in rules if "--rcheck" in r]
    assert checks == [
        f'-A {s} -m comment --comment "default/web:http -> {ep}" -m recent --name {sep} --mask 255.255.255.255 '
        f"--rsource --rcheck --seconds 60 --reap -j {sep}"
        for ep, sep in zip(("10.244.1.2:8080", "10.244.1.4:8080", "10.244.2.3:8080"), seps, strict=True)]
    assert rules.index(checks[-1]) < min(i for i, r in enumerate(rules) if "statistic" in r)  # sticky first
    assert rs.chains[(NAT, seps[0])][1] == (
        f'-A {seps[0]} -p tcp -m tcp -m comment --comment "default/web:http" -m recent --name {seps[0]} '
        f"--mask 255.255.255.255 --rsource --set -j DNAT --to-destination 10.244.1.2:8080")
    default = service_ports(svc(sessionAffinity="ClientIP"))[0]
    assert default.affinity_seconds == 10800


def test_no_ready_endpoints_rejects_in_filter_and_has_no_nat_chain() -> None:
    s_obj = svc(type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080, "protocol": "UDP"}])
    only_not_ready = eps({"notReadyAddresses": [{"ip": "10.244.1.2"}], "ports": [{"name": "http", "port": 8080,
                                                                                   "protocol": "UDP"}]})
    rs = build([s_obj], {"default/web": only_not_ready})
    assert rs.chains[(FILTER, "KUBE-SERVICES")] == [
        '-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m udp --dport 80 -m comment --comment '
        '"default/web:http has no endpoints" -j REJECT --reject-with icmp-port-unreachable']
    assert rs.chains[(FILTER, "KUBE-EXTERNAL-SERVICES")] == [
        '-A KUBE-EXTERNAL-SERVICES -m addrtype --dst-type LOCAL -p udp -m udp --dport 30080 -m comment --comment '
        '"default/web:http has no endpoints" -j REJECT --reject-with icmp-port-unreachable']
    assert rs.groups == {}
    assert len(rs.chains[(NAT, "KUBE-SERVICES")]) == 1  # only the NodePort jump
    assert rs.chains[(NAT, "KUBE-NODEPORTS")] == []


def test_headless_and_external_name_services_are_not_proxied() -> None:
    headless = svc(name="db", clusterIP="None")
    ext = svc(name="ext", type="ExternalName", externalName="example.com", clusterIP=None)
    rs = build([headless, ext], {"default/db": eps({"addresses": [{"ip": "10.244.1.2"}],
                                                    "ports": [{"name": "http", "port": 80}]}, name="db")})
    assert rs.groups == {}
    assert rs.chains[(FILTER, "KUBE-SERVICES")] == []


def test_named_target_ports_use_the_endpoints_port_of_the_same_name_per_subset() -> None:
    s_obj = svc(ports=[{"name": "http", "port": 80, "targetPort": "web"}, {"name": "dns", "port": 53,
                                                                           "protocol": "UDP", "targetPort": 5353}])
    e = eps({"addresses": [{"ip": "10.244.1.2"}], "ports": [{"name": "http", "port": 8080},
                                                             {"name": "dns", "port": 5353, "protocol": "UDP"}]},
            {"addresses": [{"ip": "10.244.1.3"}], "ports": [{"name": "http", "port": 9090}]})
    http, dns = service_ports(s_obj)
    assert ready_endpoints(http, e) == [Endpoint("10.244.1.2", 8080), Endpoint("10.244.1.3", 9090)]
    assert ready_endpoints(dns, e) == [Endpoint("10.244.1.2", 5353)]
    rs = build([s_obj], {"default/web": e})
    assert any("-p udp -m udp -m comment" in r and "DNAT --to-destination 10.244.1.2:5353" in r
               for rules in rs.chains.values() for r in rules)
    unnamed = svc(ports=[{"port": 80}])
    e2 = eps({"addresses": [{"ip": "10.244.1.2"}], "ports": [{"port": 8080}]})
    assert ready_endpoints(service_ports(unnamed)[0], e2) == [Endpoint("10.244.1.2", 8080)]


def test_malformed_or_ipv6_addresses_are_skipped_not_fatal() -> None:
    v6 = svc(name="v6", clusterIP="fd00::10")
    e = eps({"addresses": [{"ip": "10.244.1.2"}, {"ip": "fd00::2"}, {"ip": "bogus"}],
             "ports": [{"name": "http", "port": 8080}]})
    rs = build([v6, svc()], {"default/v6": e, "default/web": e})
    text = rs.render()
    assert "fd00" not in text and "bogus" not in text
    assert "10.244.1.2:8080" in text and len(rs.groups) == 1


def test_output_is_deterministic_whatever_the_input_order() -> None:
    services = [svc(name=f"s{i}", clusterIP=f"10.96.0.{i + 1}") for i in range(5)]
    endpoints = {f"default/s{i}": eps({"addresses": [{"ip": f"10.244.{i}.{j}"} for j in (9, 3, 10)],
                                       "ports": [{"name": "http", "port": 80}]}, name=f"s{i}") for i in range(5)}
    a = build(services, endpoints).render()
    b = build(list(reversed(services)), endpoints).render()
    assert a == b
    assert a.index("10.244.0.3:80") < a.index("10.244.0.9:80") < a.index("10.244.0.10:80")  # numeric IP order


def test_builder_reuses_unchanged_services_and_matches_a_fresh_build() -> None:
    services = [svc(name=f"s{i}", clusterIP=f"10.96.0.{i + 1}") for i in range(3)]
    endpoints = {f"default/s{i}": eps({"addresses": [{"ip": f"10.244.{i}.2"}], "ports": [{"name": "http", "port": 80}]},
                                      name=f"s{i}") for i in range(3)}

    def ports(e: dict[str, Endpoints]) -> list[tuple[ServicePort, list[Endpoint]]]:
        return [(sp, ready_endpoints(sp, e.get(f"default/{s.metadata.name}"))) for s in services
                for sp in service_ports(s)]

    builder = RulesBuilder(CFG)
    first = builder.build(ports(endpoints))
    endpoints["default/s1"] = eps({"addresses": [{"ip": "10.244.1.3"}], "ports": [{"name": "http", "port": 80}]},
                                  name="s1")
    second = builder.build(ports(endpoints))
    assert second.render() == build_rules(ports(endpoints), CFG).render()
    s0 = (NAT, svc_chain(service_ports(services[0])[0]))
    s1 = (NAT, svc_chain(service_ports(services[1])[0]))
    assert second.texts()[s0] is first.texts()[s0]  # unchanged service: the very same text, no rebuild
    assert second.texts()[s1] != first.texts()[s1]


def test_no_cluster_cidr_means_no_off_cluster_masquerade_rule() -> None:
    rs = build([svc()], {"default/web": THREE}, RulesConfig(cluster_cidr=None))
    s = svc_chain(service_ports(svc())[0])
    assert not any("KUBE-MARK-MASQ" in r for r in rs.chains[(NAT, s)])


def test_owned_chains_and_jumps() -> None:
    assert is_owned_chain("KUBE-SVC-ABC") and is_owned_chain("KUBE-SEP-ABC") and is_owned_chain("KUBE-NODEPORTS")
    assert not is_owned_chain("KUBE-FIREWALL") and not is_owned_chain("CNI-HOSTPORT-DNAT")
    assert {(j.table, j.chain, j.target) for j in JUMPS} == {
        (NAT, "PREROUTING", "KUBE-SERVICES"), (NAT, "OUTPUT", "KUBE-SERVICES"),
        (NAT, "POSTROUTING", "KUBE-POSTROUTING"), (FILTER, "INPUT", "KUBE-EXTERNAL-SERVICES"),
        (FILTER, "FORWARD", "KUBE-SERVICES"), (FILTER, "FORWARD", "KUBE-FORWARD"),
        (FILTER, "OUTPUT", "KUBE-SERVICES"), (FILTER, "FORWARD", "KUBE-NWPLCY-FWD")}


def test_render_is_a_complete_restore_payload() -> None:
    sp = ServicePort("default", "web", "", "TCP", 80, "10.96.0.10")
    text = build_rules([(sp, [Endpoint("10.244.1.2", 80)])], CFG).render()
    assert text.startswith("*filter\n:KUBE-SERVICES - [0:0]\n")
    assert text.count("COMMIT") == 2 and text.endswith("COMMIT\n")
    assert f":{svc_chain(sp)} - [0:0]" in text


def test_load_balancer_address_is_masqueraded_and_dnated_like_the_cluster_ip() -> None:
    s_obj = Service.from_dict({"metadata": {"name": "web", "namespace": "default"},
                               "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10",
                                        "ports": [{"name": "http", "port": 80, "nodePort": 30080}]},
                               "status": {"loadBalancer": {"ingress": [{"ip": "10.88.7.241"}]}}})
    rs = build([s_obj], {"default/web": THREE})
    s = svc_chain(service_ports(s_obj)[0])
    ext = '-A KUBE-SERVICES -d 10.88.7.241/32 -p tcp -m tcp --dport 80 -m comment --comment "default/web:http external IP"'
    assert [f"{ext} -j KUBE-MARK-MASQ", f"{ext} -j {s}"] == [
        r for r in rs.chains[(NAT, "KUBE-SERVICES")] if "10.88.7.241" in r]
    # no endpoints: the address rejects instead of hanging
    empty = build([s_obj], {})
    assert any("10.88.7.241/32" in r and "REJECT" in r for r in empty.chains[(FILTER, "KUBE-SERVICES")])

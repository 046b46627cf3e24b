"""The add-ons `kubelite up` plans for a runc cluster: proxies, cluster DNS, timing flags."""

from __future__ import annotations

import argparse
from pathlib import Path

from kubelite import addons
from kubelite.localcluster import plan_cluster


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_runc_plan_gets_a_proxy_per_node_namespace_and_one_dns_on_the_bridge(tmp_path: Path) -> None:
    plan = plan_cluster(tmp_path, nodes=3, port_offset=10, runtime="runc", net_id=42, registry=True)
    addons.add_to_plan(plan)
    by_name = {c.name: c for c in plan.components}
    proxies = [c for c in plan.components if c.name.startswith("proxy-")]
    assert [p.name for p in proxies] == ["proxy-node-1", "proxy-node-2", "proxy-node-3"]
    p1 = by_name["proxy-node-1"]
    assert p1.netns == "/run/netns/kl42-node-1" and p1.argv[0] == "proxy"
    assert flag(p1.argv, "--server") == plan.server and flag(p1.argv, "--node-ip") == "10.88.42.11"
    # Plain HTTP health on the node namespace's loopback only, probed from inside it.
    assert flag(p1.argv, "--listen-health") == p1.health == "127.0.0.1:10266"
    k1 = by_name["kubelet-node-1"]
    assert flag(k1.argv, "--listen-health") == k1.health == "127.0.0.1:10258" and k1.netns == p1.netns
    assert flag(p1.argv, "--cluster-cidr") == "10.244.0.0/16"
    dns = by_name["dns"]
    assert dns.netns is None and flag(dns.argv, "--listen") == "10.88.42.1:53"
    assert plan.components[-1] is dns, "DNS starts last, after the apiserver it watches"
    for i in (1, 2, 3):
        k = by_name[f"kubelet-node-{i}"].argv
        assert flag(k, "--cluster-dns") == "10.96.0.10" and flag(k, "--cluster-domain") == "cluster.local"
    assert len({(c.health, c.netns) for c in plan.components}) == len(plan.components), \
        "no two daemons share a health port in one network namespace"
    assert all(c.health.startswith("127.") for c in plan.components if c.name != "registry"), \
        "a plain health endpoint off loopback"


def test_process_plan_gets_no_proxy_and_no_dns(tmp_path: Path) -> None:
    plan = plan_cluster(tmp_path, nodes=2, runtime="process")
    before = [c.name for c in plan.components]
    addons.add_to_plan(plan)
    assert [c.name for c in plan.components] == before
    assert all("--cluster-dns" not in c.argv for c in plan.components)


def test_tuning_reaches_the_controller_manager_and_the_apiserver(tmp_path: Path) -> None:
    p = argparse.ArgumentParser()
    addons.add_up_flags(p)
    args = p.parse_args(["--node-monitor-grace-period", "10", "--unreachable-toleration-seconds", "10"])
    tuning = addons.tuning_from_args(args)
    assert tuning == addons.Tuning(node_monitor_grace_period=10.0, unreachable_toleration_seconds=10)
    assert p.parse_args(tuning.up_flags()) == args, "up_flags round-trips through the CLI"
    plan = plan_cluster(tmp_path, nodes=1, runtime="process")
    addons.add_to_plan(plan, tuning)
    by_name = {c.name: c for c in plan.components}
    assert flag(by_name["controller-manager"].argv, "--node-monitor-grace-period") == "10"
    assert "--node-monitor-period" not in by_name["controller-manager"].argv
    assert flag(by_name["apiserver"].argv, "--default-unreachable-toleration-seconds") == "10"
    assert "--default-not-ready-toleration-seconds" not in by_name["apiserver"].argv
    assert not addons.Tuning().up_flags()


def test_a_short_grace_period_gives_the_kubelets_a_node_lease_as_short(tmp_path: Path) -> None:
    """Renewed every quarter of its duration: 2.5 s against an 10 s grace, not the default 10 s."""
    plan = plan_cluster(tmp_path, nodes=2, runtime="process")
    addons.add_to_plan(plan, addons.Tuning(node_monitor_grace_period=10.5))
    kubelets = [c for c in plan.components if c.name.startswith("kubelet-")]
    assert len(kubelets) == 2
    assert all(flag(c.argv, "--node-lease-duration-seconds") == "10" for c in kubelets)
    default = plan_cluster(tmp_path, nodes=1, runtime="process")
    addons.add_to_plan(default, addons.Tuning())
    assert all("--node-lease-duration-seconds" not in c.argv for c in default.components)


def test_kube_dns_service_points_at_the_host_daemon(tmp_path: Path) -> None:
    plan = plan_cluster(tmp_path, nodes=1, runtime="runc", net_id=7)
    assert plan.network is not None
    svc, ep = addons.dns_objects(plan.network)
    assert svc["metadata"]["namespace"] == ep["metadata"]["namespace"] == "kube-system"
    assert svc["metadata"]["name"] == ep["metadata"]["name"] == "kube-dns"
    assert svc["spec"]["clusterIP"] == "10.96.0.10" and "selector" not in svc["spec"]
    assert {(p["port"], p["protocol"]) for p in svc["spec"]["ports"]} == {(53, "UDP"), (53, "TCP")}
    (subset,) = ep["subsets"]
    assert subset["addresses"] == [{"ip": "10.88.7.1"}]
    assert {p["name"] for p in subset["ports"]} == {p["name"] for p in svc["spec"]["ports"]}

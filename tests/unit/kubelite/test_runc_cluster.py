"""Planning a runc cluster (node namespaces, registry) and the finders `kubelite down` relies on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kubelite import cleanup, cluster
from kubelite.localcluster import RunningProcess, load_extra, load_state, plan_cluster, save_state


def test_runc_plan_puts_kubelets_in_node_namespaces_and_the_apiserver_on_the_bridge(tmp_path: Path) -> None:
    plan = plan_cluster(tmp_path, nodes=3, port_offset=10, runtime="runc", net_id=42, registry=True)
    assert plan.network is not None and plan.network.bridge == "kl-br42"
    assert plan.server == "10.88.42.1:6453" and plan.registry == "10.88.42.1:5010"
    api = plan.components[1]
    assert api.argv[api.argv.index("--listen") + 1] == plan.server
    kubelets = plan.components[4:]
    assert [k.netns for k in kubelets] == [f"/run/netns/kl42-node-{i}" for i in (1, 2, 3)]
    k1 = kubelets[0].argv
    assert k1[k1.index("--node-ip") + 1] == "10.88.42.11" and k1[k1.index("--runtime") + 1] == "runc"
    assert k1[k1.index("--default-registry") + 1] == "10.88.42.1:5010"
    assert k1[k1.index("--server") + 1] == plan.server
    process = plan_cluster(tmp_path, nodes=2, runtime="process")
    assert process.network is None and process.server == "127.0.0.1:6443"
    assert all(c.netns is None for c in process.components)


def test_state_keeps_what_down_must_clean_when_a_daemon_is_restarted(tmp_path: Path) -> None:
    save_state(tmp_path, "s:1", [], network={"bridge": "kl-br9"}, runtime="runc")
    procs = [RunningProcess("kubelet-node-1", 5, 6, "h:1")]
    save_state(tmp_path, "s:1", procs)  # what `restart_component` does
    assert load_state(tmp_path) == ("s:1", procs)
    assert load_extra(tmp_path)["network"] == {"bridge": "kl-br9"} and load_extra(tmp_path)["runtime"] == "runc"


def test_runtime_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster.shutil, "which", lambda tool: None if tool == "conmon" else f"/usr/bin/{tool}")
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 0)
    runtime, note = cluster.resolve_runtime("auto")
    assert runtime == "process" and "conmon not found" in note and "without isolation" in note
    with pytest.raises(cluster.UpError, match="conmon installed"):
        cluster.resolve_runtime("runc")
    assert cluster.resolve_runtime("process") == ("process", "")
    monkeypatch.setattr(cluster.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    assert cluster.resolve_runtime("auto") == ("runc", "")
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 1000)
    assert "not running as root" in cluster.resolve_runtime("auto")[1]


def test_runc_roots_are_found_under_node_dirs_but_not_inside_rootfs(tmp_path: Path) -> None:
    state = tmp_path / "nodes" / "node-1" / "runc" / "runc" / "abc123"
    state.mkdir(parents=True)
    (state / "state.json").write_text("{}")
    decoy = tmp_path / "nodes" / "node-2" / "runc" / "containers" / "x" / "rootfs" / "r" / "c"
    decoy.mkdir(parents=True)
    (decoy / "state.json").write_text("{}")
    assert cleanup.runc_roots(tmp_path) == [tmp_path / "nodes" / "node-1" / "runc" / "runc"]
    assert cleanup.runc_roots(tmp_path / "missing") == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_down_unmounts_nested_mounts_deepest_first(tmp_path: Path) -> None:
    """What `kubelite down` leaves mounted under a data dir is unmounted, a path with a space too."""
    from kubelet.runc import overlay

    outer = tmp_path / "pod dir" / "shm"
    inner = outer / "nested"
    overlay.mount_tmpfs(outer)
    try:
        overlay.mount_tmpfs(inner)
        assert cleanup.mounts_under(tmp_path) == [str(inner), str(outer)]
        assert cleanup.unmount_all(tmp_path) == []
        assert cleanup.mounts_under(tmp_path) == []
    finally:
        overlay.unmount(inner)
        overlay.unmount(outer)
    assert cleanup.mounts_under(tmp_path / "missing") == []


def test_pod_network_reaches_every_kubelet_and_add_node(tmp_path: Path) -> None:
    from kubelite.settings import ClusterSettings

    settings = ClusterSettings(nodes=2, runtime="runc", net_id=42, pod_network="vxlan")
    recorded = ClusterSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    recorded.nodes += 1  # `kubelite add-node` plans the new node with the cluster's pod network
    for comp in recorded.plan(tmp_path).components:
        if comp.name.startswith("kubelet-"):
            argv = comp.argv
            assert argv[argv.index("--pod-network") + 1] == "vxlan" and argv[argv.index("--net-id") + 1] == "42"
    hostgw = plan_cluster(tmp_path, nodes=1, runtime="runc", net_id=3).components[-1].argv
    assert hostgw[hostgw.index("--pod-network") + 1] == "host-gw"
    assert "--pod-network" not in plan_cluster(tmp_path, nodes=1, runtime="process").components[-1].argv
    old = {k: v for k, v in settings.to_dict().items() if k != "pod_network"}  # a state file from before
    assert ClusterSettings.from_dict(old).pod_network == "host-gw"


def test_vxlan_without_runc_is_refused_with_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = cluster.main("up", ["--runtime", "process", "--pod-network", "vxlan", "--data-dir", "/nonexistent/x"])
    assert code == 1 and "--pod-network vxlan needs the runc runtime" in capsys.readouterr().err

"""`kubelite add-node` re-plans the cluster from what `up` recorded: same ports and flags, one node more."""

from __future__ import annotations

import json
from pathlib import Path

from kubelite.addons import Tuning
from kubelite.settings import ClusterSettings


def test_recorded_settings_plan_the_same_cluster_one_node_bigger(tmp_path: Path) -> None:
    settings = ClusterSettings(nodes=2, port_offset=300, runtime="runc", net_id=42, kv_members=3,
                               tuning=Tuning(node_monitor_grace_period=10, unreachable_toleration_seconds=5))
    recorded = ClusterSettings.from_dict(json.loads(json.dumps(settings.to_dict())))  # through the state file
    assert recorded == settings
    before = settings.plan(tmp_path)
    recorded.nodes += 1
    after = recorded.plan(tmp_path)
    old = {c.name: c for c in before.components}
    new = {c.name: c for c in after.components}
    assert set(new) - set(old) == {"kubelet-node-3", "proxy-node-3", "ingress-node-3"}
    for name, comp in old.items():  # every existing daemon is planned exactly as it runs
        assert new[name].health == comp.health, name
        if not name.startswith(("kubelet", "proxy", "dns")):
            assert new[name].argv == comp.argv, name
    assert after.server == before.server
    assert "--default-unreachable-toleration-seconds" in new["apiserver"].argv
    assert after.network is not None and [n.name for n in after.network.nodes] == ["node-1", "node-2", "node-3"]

"""The options a local cluster was started with, and how they become its plan.

Why recorded: `kubelite up` derives every port, address and flag from a handful
of options; keeping them in the cluster's state file lets later commands
(`kubelite add-node`) plan exactly the same cluster, one node bigger, instead of
asking the user to repeat them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubelite.addons import Tuning, add_to_plan
from kubelite.localcluster import ClusterPlan, plan_cluster


@dataclass
class ClusterSettings:
    """What `kubelite up` was asked for (runtime already resolved from `auto`)."""

    nodes: int
    port_offset: int = 0
    runtime: str = "process"
    net_id: int = 0
    kv_members: int = 1
    pod_network: str = "host-gw"  # runc nodes: host-gw routes or the vxlan overlay
    tuning: Tuning = field(default_factory=Tuning)
    advertise_address: str = ""  # `kubelite init`: the address other machines reach the control plane at

    def plan(self, data_dir: Path) -> ClusterPlan:
        plan = plan_cluster(data_dir, self.nodes, self.port_offset, self.runtime, net_id=self.net_id,
                            registry=self.runtime == "runc", kv_members=self.kv_members,
                            pod_network=self.pod_network, advertise_address=self.advertise_address)
        add_to_plan(plan, self.tuning)
        return plan

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterSettings:
        fields = dict(data)
        fields["tuning"] = Tuning(**(fields.get("tuning") or {}))
        return cls(**fields)

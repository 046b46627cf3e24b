"""The rig's layout: distinct subnets per machine, names that fit, paths kept under the rig's directory."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tests.rig.plan import enter_argv, mount_script, plan_rig


def test_machines_get_their_own_routed_subnets_clear_of_kubelite_ranges() -> None:
    plan = plan_rig(3, 4)
    subnets = [ipaddress.ip_network(m.subnet) for m in plan.machines]
    assert len(set(subnets)) == 4
    for net in subnets:
        for used in ("10.88.0.0/16", "10.96.0.0/12", "10.244.0.0/16"):
            assert not net.overlaps(ipaddress.ip_network(used))
    for m in plan.machines:
        assert ipaddress.ip_address(m.address) in ipaddress.ip_network(m.subnet)
        assert ipaddress.ip_address(m.gateway) in ipaddress.ip_network(m.subnet)
        assert len(m.router_if) <= 15 and m.netns.startswith(plan.prefix)
    other = plan_rig(4, 4)
    assert not {m.subnet for m in other.machines} & {m.subnet for m in plan.machines}
    with pytest.raises(ValueError, match="rig id"):
        plan_rig(0, 1)
    with pytest.raises(ValueError, match="machines"):
        plan_rig(1, 0)


def test_machine_files_live_under_the_rig_and_enter_both_namespaces() -> None:
    plan = plan_rig(5, 2, base_root=Path("/tmp/x"))
    m = plan.machine(2)
    assert m.private_dir("/var/lib") == Path("/tmp/x/klrig-5/m2/var-lib")
    assert enter_argv(m) == ["nsenter", "--net=/run/netns/klrig5-m2", f"--mount={m.mount_ns}", f"--uts={m.uts_ns}", "--"]
    script = mount_script(m)
    for path in ("/etc", "/var/lib", "/run"):
        assert f" {path}\n" in script + "\n"
    assert str(m.root) in script

"""deploy/vm-cluster.sh's plan: options checked with the flag named, and the addresses, kernel command
lines and QEMU command lines every VM gets (the full VM run is a separate check, see README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.vmcluster import image
from kubelite.vmcluster import plan as vp

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyBody kubelite-vm-cluster"


def cfg_of(*argv: str) -> vp.VmClusterConfig:
    return vp.config_from_args(vp.parser().parse_args(list(argv)))


def test_defaults_are_three_tcg_vms_and_up() -> None:
    args = vp.parser().parse_args([])
    cfg = vp.config_from_args(args)
    assert args.command == "up"
    assert (cfg.vms, cfg.accel) == (3, "tcg")
    assert [vm.memory_mb for vm in cfg.machines()] == [2048, 1024, 1024]


@pytest.mark.parametrize(("argv", "flag"), [
    (["--vms", "1"], "--vms"),
    (["--memory", "256"], "--memory"),
    (["--cp-memory", "100"], "--cp-memory"),
    (["--subnet", "10.77.0.0/33"], "--subnet"),
    (["--subnet", "10.88.5.0/24"], "--subnet"),  # kubelite's own node bridges
    (["--subnet", "192.168.1.0/29", "--vms", "3"], "--subnet"),
])
def test_bad_options_are_refused_naming_the_flag(argv: list[str], flag: str) -> None:
    with pytest.raises(vp.PlanError, match=flag):
        cfg_of(*argv)


def test_vms_get_distinct_addresses_macs_taps_and_files(tmp_path: Path) -> None:
    cfg = cfg_of("--vms", "4", "--subnet", "10.60.1.0/24", "--run-dir", str(tmp_path))
    machines = cfg.machines()
    assert cfg.host_ip == "10.60.1.1"
    assert [vm.ip for vm in machines] == ["10.60.1.11", "10.60.1.12", "10.60.1.13", "10.60.1.14"]
    for attr in ("ip", "mac", "tap", "disk", "console_log", "pidfile", "name"):
        assert len({getattr(vm, attr) for vm in machines}) == 4, attr
    assert all(len(vm.tap) <= 15 for vm in machines)  # Linux interface names
    assert all(vm.disk.parent.parent == tmp_path for vm in machines)


def test_kernel_cmdline_carries_address_gateway_key_and_the_route_to_the_init_node() -> None:
    cfg = cfg_of("--vms", "2")
    cp, node = cfg.machines()
    line = vp.kernel_cmdline(cfg, cp, KEY).split()
    assert {"root=/dev/vda", "console=ttyS0", "systemd.hostname=vm1", "kl.ip=10.77.0.11/24",
            "kl.gw=10.77.0.1", "kl.sshkey=AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyBody"} <= set(line)
    assert "systemd.unified_cgroup_hierarchy=0" in line  # the runc runtime's cgroup v1 controllers
    assert not [w for w in line if w.startswith("kl.route=")]
    # joining VMs reach init's own node (a namespace behind VM 1's bridge) through VM 1
    assert "kl.route=10.88.0.0/24,10.77.0.11" in vp.kernel_cmdline(cfg, node, KEY).split()


def test_kernel_cmdline_needs_an_ed25519_key() -> None:
    cfg = cfg_of()
    with pytest.raises(vp.PlanError, match="ed25519"):
        vp.kernel_cmdline(cfg, cfg.machines()[0], "ssh-rsa AAAAB3Nza")


def test_qemu_argv_boots_the_kernel_with_the_overlay_tap_and_console_file() -> None:
    cfg = cfg_of("--vms", "2")
    vm = cfg.machines()[1]
    argv = vp.qemu_argv(cfg, vm, Path("/c/vmlinuz"), Path("/c/initrd.img"), "root=/dev/vda")
    joined = " ".join(argv)
    assert argv[0] == "qemu-system-x86_64"
    assert "-accel tcg" in joined and "-m 1024" in joined and "-smp 1" in joined
    assert f"file={vm.disk},if=virtio,format=qcow2" in joined
    assert f"tap,id=net0,ifname={vm.tap},script=no" in joined and f"mac={vm.mac}" in joined
    assert f"file:{vm.console_log}" in joined and str(vm.pidfile) in argv
    kvm = vp.qemu_argv(cfg_of("--accel", "kvm"), vm, Path("/k"), Path("/i"), "x")
    assert "kvm" in kvm and "host" in kvm


def test_image_key_changes_with_what_goes_into_the_image() -> None:
    cfg = cfg_of()
    base = vp.image_key(cfg, ["grpcio==1"], {"a": "x"})
    assert base == vp.image_key(cfg, ["grpcio==1"], {"a": "x"})
    assert base != vp.image_key(cfg, ["grpcio==2"], {"a": "x"})
    assert base != vp.image_key(cfg, ["grpcio==1"], {"a": "y"})
    assert base != vp.image_key(cfg_of("--mirror", "http://mirror.example/debian"), ["grpcio==1"], {"a": "x"})


def test_the_printed_join_command_is_found_in_init_output() -> None:
    out = ("Your control plane is ready. Join other machines by running on each of them:\n\n"
           "  kubelite join https://10.77.0.11:6443 --token abcdef.0123456789abcdef "
           "--discovery-token-ca-cert-hash sha256:00ff\n")
    assert vp.parse_join_command(out) == ["kubelite", "join", "https://10.77.0.11:6443", "--token",
                                          "abcdef.0123456789abcdef", "--discovery-token-ca-cert-hash", "sha256:00ff"]
    with pytest.raises(vp.PlanError, match="join"):
        vp.parse_join_command("error: timed out")


def test_config_round_trips_through_the_recorded_state(tmp_path: Path) -> None:
    cfg = cfg_of("--vms", "2", "--run-dir", str(tmp_path), "--accel", "kvm")
    assert vp.VmClusterConfig.from_dict(cfg.to_dict()) == cfg


def test_mmdebstrap_installs_node_packages_and_kubelites_dependencies_offline(tmp_path: Path) -> None:
    argv = image.mmdebstrap_argv(cfg_of(), tmp_path / "stage", tmp_path / "root")
    include = next(a for a in argv if a.startswith("--include=")).removeprefix("--include=").split(",")
    assert {"runc", "conmon", "containernetworking-plugins", "iptables", "python3", "linux-image-amd64"} <= set(include)
    assert any("--no-index" in a and "pip install" in a for a in argv)
    assert argv[-3:] == ["deb http://deb.debian.org/debian bookworm main",
                         "deb http://deb.debian.org/debian bookworm-updates main",
                         "deb http://deb.debian.org/debian-security bookworm-security main"]


def test_vm1_gets_the_control_plane_cpus_and_multi_threaded_tcg(tmp_path: Path) -> None:
    cfg = cfg_of("--vms", "3", "--cp-cpus", "3", "--run-dir", str(tmp_path))
    argvs = [vp.qemu_argv(cfg, vm, Path("k"), Path("i"), "x") for vm in cfg.machines()]
    assert [argv[argv.index("-smp") + 1] for argv in argvs] == ["3", "1", "1"]
    assert all("thread=multi" in argv[argv.index("-accel") + 1] for argv in argvs)
    assert cfg_of().cp_cpus == 2
    with pytest.raises(vp.PlanError, match="--cp-cpus"):
        cfg_of("--cp-cpus", "0")


def test_init_runs_a_node_in_vm1_unless_no_cp_node() -> None:
    assert " --nodes 1 " in vp.init_command(cfg_of("--vms", "2"), "/d")
    line = vp.init_command(cfg_of("--vms", "3", "--no-cp-node"), "/d")
    assert line.startswith("kubelite init --advertise-address 10.77.0.11 ") and " --nodes 0 " in line
    with pytest.raises(vp.PlanError, match="--no-cp-node needs --vms 3"):
        cfg_of("--vms", "2", "--no-cp-node")


def test_the_service_is_checked_in_the_init_nodes_namespace_and_on_every_joined_vm() -> None:
    checks = vp.service_checks(cfg_of("--vms", "3"))
    assert [(vm.name, prefix) for vm, prefix in checks] == [
        ("vm1", "ip netns exec kl-node-1 "), ("vm2", ""), ("vm3", "")]
    assert [vm.name for vm, _ in vp.service_checks(cfg_of("--vms", "3", "--no-cp-node"))] == ["vm2", "vm3"]

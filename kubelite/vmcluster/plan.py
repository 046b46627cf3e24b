"""What a VM cluster is made of, computed without touching the machine (pure; unit-tested).

Why a plan: the addresses, names, kernel command lines and QEMU command lines
of every VM follow from a few options; computing them in one place lets `up`
and `down` agree on what exists (`down` rebuilds the same plan from the
recorded options) and lets a unit test check them without root or QEMU.

Every VM boots the same cached image through a qcow2 overlay of its own; what
makes it *this* VM (address, routes, host name, the run's SSH key) travels on
the kernel command line and is applied by the image's `kl-vm-net` service
(`image.GUEST_NET_SCRIPT`), so nothing per VM is written into a disk image.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
from dataclasses import asdict, dataclass
from pathlib import Path

from kubelite.netns import plan_network

DEFAULT_CACHE_DIR = Path("/var/cache/kubelite-vm")
DEFAULT_RUN_DIR = Path("/var/lib/kubelite-vm")
DEFAULT_SUBNET = "10.77.0.0/24"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
SUITE = "bookworm"
NETNS = "kl-vm"
BRIDGE = "klvm-br0"
INIT_NET_ID = 0  # `kubelite init`'s default --net-id: its own node's bridge is 10.88.<id>.0/24
IMAGE_SIZE = "6G"  # virtual size of the root filesystem (sparse; each VM's overlay holds its writes)

# What a kubelite node needs (deploy/install-deps.sh's runtime part) plus what a bootable VM needs.
NODE_PACKAGES = ("runc", "conmon", "containernetworking-plugins", "iptables", "iproute2", "busybox-static",
                 "docker-registry", "openssl", "procps", "util-linux", "nginx", "curl", "ca-certificates",
                 "python3", "python3-venv")
BOOT_PACKAGES = ("systemd-sysv", "udev", "kmod", "linux-image-amd64", "initramfs-tools", "openssh-server",
                 "netbase", "iputils-ping")


class PlanError(Exception):
    """A bad option; the message names it."""


@dataclass(frozen=True)
class Vm:
    """One VM: its place on the bridge and its files in the run directory."""

    index: int  # 1-based; VM 1 runs `kubelite init`
    name: str
    ip: str
    mac: str
    tap: str
    memory_mb: int
    cpus: int
    disk: Path
    console_log: Path
    pidfile: Path


@dataclass
class VmClusterConfig:
    """The options of one run (recorded in the run directory so `down` finds everything)."""

    vms: int = 3
    accel: str = "tcg"
    memory_mb: int = 1024
    cp_memory_mb: int = 2048
    cp_cpus: int = 2
    cp_node: bool = True
    subnet: str = DEFAULT_SUBNET
    cache_dir: Path = DEFAULT_CACHE_DIR
    run_dir: Path = DEFAULT_RUN_DIR
    mirror: str = DEFAULT_MIRROR
    security_mirror: str = DEFAULT_SECURITY_MIRROR
    boot_timeout: float = 900.0
    init_timeout: float = 1800.0
    demo_timeout: float = 1200.0
    keep: bool = False

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["cache_dir"], d["run_dir"] = str(self.cache_dir), str(self.run_dir)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> VmClusterConfig:
        cfg = cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})  # type: ignore[arg-type]
        cfg.cache_dir, cfg.run_dir = Path(str(cfg.cache_dir)), Path(str(cfg.run_dir))
        return cfg

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def host_ip(self) -> str:
        """The bridge's address in the namespace: the VMs' gateway and where SSH comes from."""
        return str(self.network.network_address + 1)

    def machines(self) -> list[Vm]:
        net = self.network
        out = []
        for i in range(1, self.vms + 1):
            d = self.run_dir / f"vm{i}"
            out.append(Vm(index=i, name=f"vm{i}", ip=str(net.network_address + 10 + i),
                          mac=f"52:54:00:4b:4c:{i:02x}", tap=f"klvm-tap{i}",
                          memory_mb=self.cp_memory_mb if i == 1 else self.memory_mb,
                          cpus=self.cp_cpus if i == 1 else 1,
                          disk=d / "disk.qcow2", console_log=d / "console.log", pidfile=d / "qemu.pid"))
        return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deploy/vm-cluster.sh",
        description="A kubelite cluster on QEMU VMs: build (cached) a Debian 12 image, boot N VMs on a private "
                    "bridge in a network namespace, `kubelite init` in the first, `kubelite join` in the others, "
                    "run the demo and check it. `down` removes everything.")
    p.add_argument("command", nargs="?", default="up", choices=["up", "down", "image", "ssh"],
                   help="up (default): the whole run; down: stop VMs, remove network and overlays; "
                        "image: only build the cached image; ssh: a shell or command in VM N (after --)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="ssh: VM number, then the command")
    p.add_argument("--vms", type=int, default=3, help="number of VMs (>= 2: VM 1 runs init, the others join)")
    p.add_argument("--accel", choices=["tcg", "kvm"], default="tcg",
                   help="QEMU accelerator: tcg (emulation; works everywhere, slow) or kvm (where nested KVM works)")
    p.add_argument("--memory", type=int, default=1024, help="MiB of memory of each joining VM")
    p.add_argument("--cp-memory", type=int, default=2048, help="MiB of memory of VM 1 (control plane and a node)")
    p.add_argument("--cp-cpus", type=int, default=2,
                   help="vCPUs of VM 1 (the whole control plane and a node; under TCG one emulated vCPU cannot "
                        "keep its apiserver answering, QEMU runs each vCPU in a host thread)")
    p.add_argument("--no-cp-node", dest="cp_node", action="store_false",
                   help="VM 1 runs only the control plane (`kubelite init --nodes 0`); the demo's pods run on "
                        "the joined VMs (then --vms 3 or more)")
    p.add_argument("--subnet", default=DEFAULT_SUBNET, help="the VMs' private bridge subnet (a /24 or larger)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="where the built image is kept")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR,
                   help="overlays, console logs, the run's SSH key and state")
    p.add_argument("--mirror", default=DEFAULT_MIRROR, help="Debian mirror for the image")
    p.add_argument("--security-mirror", default=DEFAULT_SECURITY_MIRROR, help="Debian security mirror")
    p.add_argument("--boot-timeout", type=float, default=900.0, help="seconds for the VMs to answer SSH")
    p.add_argument("--init-timeout", type=float, default=1800.0, help="seconds for init and for each join")
    p.add_argument("--demo-timeout", type=float, default=1200.0, help="seconds for the demo to run")
    p.add_argument("--keep", action="store_true", help="leave the cluster running after the checks (then: down)")
    return p


def config_from_args(args: argparse.Namespace) -> VmClusterConfig:
    """The options checked, each error naming its flag."""
    if args.vms < 2 or args.vms > 50:
        raise PlanError(f"--vms must be between 2 and 50 (init in one, join in the others), got {args.vms}")
    for flag, value in (("--memory", args.memory), ("--cp-memory", args.cp_memory)):
        if value < 512:
            raise PlanError(f"{flag} must be at least 512 MiB (a kubelite node), got {value}")
    if not 1 <= args.cp_cpus <= 16:
        raise PlanError(f"--cp-cpus must be between 1 and 16, got {args.cp_cpus}")
    if not args.cp_node and args.vms < 3:
        raise PlanError(f"--no-cp-node needs --vms 3 or more (the demo runs on two joined nodes), got {args.vms}")
    try:
        net = ipaddress.IPv4Network(args.subnet)
    except ValueError as exc:
        raise PlanError(f"--subnet: {exc}") from None
    if net.num_addresses < 10 + args.vms + 2:
        raise PlanError(f"--subnet {args.subnet} is too small for {args.vms} VMs")
    for bad in ("10.88.0.0/16", "10.244.0.0/16", "10.96.0.0/12"):
        if net.overlaps(ipaddress.IPv4Network(bad)):
            raise PlanError(f"--subnet {args.subnet} overlaps kubelite's own {bad} (node bridge, pods, Services)")
    return VmClusterConfig(vms=args.vms, accel=args.accel, memory_mb=args.memory, cp_memory_mb=args.cp_memory,
                           cp_cpus=args.cp_cpus, cp_node=args.cp_node,
                           subnet=str(net), cache_dir=args.cache_dir.resolve(), run_dir=args.run_dir.resolve(),
                           mirror=args.mirror, security_mirror=args.security_mirror,
                           boot_timeout=args.boot_timeout, init_timeout=args.init_timeout,
                           demo_timeout=args.demo_timeout, keep=args.keep)


def init_node_subnet() -> str:
    """Where `kubelite init`'s own node lives: behind VM 1's bridge (see tests/e2e/test_rig_join.py)."""
    return f"10.88.{INIT_NET_ID}.0/24"


def kernel_cmdline(cfg: VmClusterConfig, vm: Vm, ssh_pubkey: str) -> str:
    """The kernel command line: root disk, serial console, and what `kl-vm-net` applies in the guest.

    kl.route: the joining VMs reach the init node's namespace (its VTEP and kubelet) through VM 1,
    as a site's router would route it.
    """
    kind, _, body = ssh_pubkey.strip().partition(" ")
    if kind != "ssh-ed25519" or not body:
        raise PlanError("the run's SSH key must be an ed25519 public key")
    # systemd's 90 s default for devices and units is too short under emulation on a busy host
    # (udev alone can take longer to announce eth0)
    parts = ["root=/dev/vda", "rw", "console=ttyS0", "net.ifnames=0", "mitigations=off", "panic=-1",
             "systemd.default_timeout_start_sec=1200",
             # kubelite's runc runtime uses the cgroup v1 controllers (Debian 12 boots cgroup v2 only)
             "systemd.unified_cgroup_hierarchy=0",
             f"systemd.hostname={vm.name}", f"kl.ip={vm.ip}/{cfg.network.prefixlen}", f"kl.gw={cfg.host_ip}",
             f"kl.sshkey={body.split()[0]}"]
    if vm.index != 1:
        parts.append(f"kl.route={init_node_subnet()},{cfg.machines()[0].ip}")
    return " ".join(parts)


def qemu_argv(cfg: VmClusterConfig, vm: Vm, kernel: Path, initrd: Path, cmdline: str) -> list[str]:
    """QEMU for one VM: direct kernel boot, its overlay disk, a tap on the bridge, console to a file."""
    # thread=multi: each vCPU of a TCG guest in a host thread of its own (else one thread runs them all)
    accel = (["-accel", "kvm", "-cpu", "host"] if cfg.accel == "kvm"
             else ["-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max"])
    return ["qemu-system-x86_64", "-name", vm.name, "-nodefaults", *accel, "-smp", str(vm.cpus),
            "-m", str(vm.memory_mb),
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline,
            "-drive", f"file={vm.disk},if=virtio,format=qcow2,cache=unsafe",
            "-netdev", f"tap,id=net0,ifname={vm.tap},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=net0,mac={vm.mac}",
            "-object", "rng-random,filename=/dev/urandom,id=rng0", "-device", "virtio-rng-pci,rng=rng0",
            "-display", "none", "-monitor", "none", "-serial", f"file:{vm.console_log}",
            "-daemonize", "-pidfile", str(vm.pidfile)]


def image_key(cfg: VmClusterConfig, requirements: list[str], guest_files: dict[str, str]) -> str:
    """The cache key of the image: what goes into it. A change of packages, mirror, Python
    dependencies or guest set-up builds a new image; kubelite itself is installed per run."""
    h = hashlib.sha256()
    for item in [SUITE, cfg.mirror, cfg.security_mirror, IMAGE_SIZE, *NODE_PACKAGES, *BOOT_PACKAGES,
                 *sorted(requirements), *(f"{k}={v}" for k, v in sorted(guest_files.items()))]:
        h.update(item.encode() + b"\0")
    return h.hexdigest()[:16]


def init_command(cfg: VmClusterConfig, data_dir: str) -> str:
    """`kubelite init` in VM 1: advertised on the bridge; with a node of its own unless --no-cp-node
    (then VM 1's emulated CPU serves only the control plane)."""
    cp = cfg.machines()[0]
    return (f"kubelite init --advertise-address {cp.ip} --runtime runc --data-dir {data_dir} "
            f"--nodes {1 if cfg.cp_node else 0} --timeout {cfg.init_timeout:.0f}")


INIT_NODE = "node-1"  # the name `kubelite init` gives its own node


def service_checks(cfg: VmClusterConfig) -> list[tuple[Vm, str]]:
    """Where a Service must answer, as (VM, command prefix): every node. In VM 1 that is the init
    node's network namespace (its proxy's rules live there, not in VM 1's own namespace); with
    --no-cp-node VM 1 is no node."""
    machines = cfg.machines()
    init_ns = plan_network(INIT_NET_ID, [INIT_NODE]).nodes[0].netns
    first = [(machines[0], f"ip netns exec {init_ns} ")] if cfg.cp_node else []
    return first + [(vm, "") for vm in machines[1:]]


def parse_join_command(init_output: str) -> list[str]:
    """The argv of the `kubelite join ...` line `kubelite init` printed."""
    for line in init_output.splitlines():
        words = line.strip().split()
        if words[:2] == ["kubelite", "join"] and "--token" in words:
            return words
    raise PlanError("kubelite init printed no `kubelite join ...` command")

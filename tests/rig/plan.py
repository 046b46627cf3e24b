"""The layout of a rig of "machines" on one host: names, subnets and addresses, derived from a rig id.

Why a separate machine model for tests: `kubelite up` nodes share the host's
filesystem and one L2 bridge, so they cannot show that a node works from its
own files and that pods cross a routed network. A rig machine has its own
network namespace *and* mount namespace (private /etc, /var/lib, /run), sits
alone in its own /24 behind a router namespace, and reaches the others only
through that router -- so host-gw routing cannot work there and an overlay can.

Pure: the executor (`tests.rig.machines`) only carries this plan out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_RIG_ID = 15
MAX_MACHINES = 20
PRIVATE_DIRS = ("/etc", "/var/lib", "/run")
DATA_DIR = "/var/lib/kubelite"  # a machine's kubelite data directory (inside its private /var/lib)


@dataclass(frozen=True)
class Machine:
    index: int  # 1..
    netns: str  # its network namespace, e.g. klrig3-m1
    address: str  # its public IP, e.g. 172.19.1.10
    gateway: str  # the router's address on its subnet, e.g. 172.19.1.1
    router_if: str  # the router's interface towards it, e.g. m1 (inside the router namespace)
    root: Path  # host directory holding its private /etc upper layer, /var/lib, /run
    mount_ns: Path  # file the machine's mount namespace is pinned to

    @property
    def uts_ns(self) -> Path:
        """File its UTS namespace is pinned to: its own host name (`kubelite join` names the node after it)."""
        return self.mount_ns.with_suffix(".uts")

    @property
    def name(self) -> str:
        return f"m{self.index}"

    @property
    def subnet(self) -> str:
        return self.gateway.rpartition(".")[0] + ".0/24"

    def private_dir(self, path: str) -> Path:
        """Where the machine's own copy of `path` (one of PRIVATE_DIRS) lives on the host."""
        return self.root / path.strip("/").replace("/", "-")


@dataclass(frozen=True)
class RigPlan:
    rig_id: int
    router_netns: str
    base: Path  # everything on the host's disk lives below it
    machines: tuple[Machine, ...]

    @property
    def prefix(self) -> str:
        return f"klrig{self.rig_id}-"

    @property
    def ns_dir(self) -> Path:
        """The private-propagation directory holding the mount-namespace pin files."""
        return self.base / "ns"

    def machine(self, index: int) -> Machine:
        return self.machines[index - 1]


def plan_rig(rig_id: int, machines: int, base_root: Path = Path("/tmp")) -> RigPlan:
    """Rig `rig_id` (1..15) with `machines` machines: machine i at 172.(16+id).i.10/24, router at .1.

    The 172.16.0.0/12 range keeps clear of what kubelite uses (10.88/16 node
    bridges, 10.96/12 Services, 10.244/16 pods); the id keeps two rigs apart.
    """
    if not 1 <= rig_id <= MAX_RIG_ID:
        raise ValueError(f"rig id must be 1..{MAX_RIG_ID}, got {rig_id}")
    if not 1 <= machines <= MAX_MACHINES:
        raise ValueError(f"machines must be 1..{MAX_MACHINES}, got {machines}")
    base = base_root / f"klrig-{rig_id}"
    net = f"172.{16 + rig_id}"
    return RigPlan(
        rig_id=rig_id,
        router_netns=f"klrig{rig_id}-r",
        base=base,
        machines=tuple(
            Machine(index=i, netns=f"klrig{rig_id}-m{i}", address=f"{net}.{i}.10", gateway=f"{net}.{i}.1",
                    router_if=f"m{i}", root=base / f"m{i}", mount_ns=base / "ns" / f"m{i}.mnt")
            for i in range(1, machines + 1)
        ),
    )


def enter_argv(machine: Machine) -> list[str]:
    """argv prefix that runs a command inside the machine (its network and mount namespaces).

    Why nsenter and not `ip netns exec`: the latter remounts /sys for the network
    namespace, which drops the cgroup mounts below it that runc needs; a machine
    keeps the host's /sys (like `kubelite up` nodes do) and only /etc, /var/lib
    and /run are its own.
    """
    return ["nsenter", f"--net=/run/netns/{machine.netns}", f"--mount={machine.mount_ns}",
            f"--uts={machine.uts_ns}", "--"]


def mount_script(machine: Machine) -> str:
    """The shell run once in the machine's new mount namespace to make its private directories.

    /etc is an overlay (the host's files below, the machine's changes in its own
    upper layer, so tools keep working and nothing written leaks out), /var/lib
    and /run start empty.
    """
    etc = machine.private_dir("/etc")
    lines = [
        "set -e",
        f"mount -t overlay klrig-etc -o lowerdir=/etc,upperdir={etc}/upper,workdir={etc}/work /etc",
        f"mount --bind {machine.private_dir('/var/lib')} /var/lib",
        f"mount --bind {machine.private_dir('/run')} /run",
        f"mkdir -p {DATA_DIR}",
        f"echo {machine.name} > /etc/hostname",
        f"hostname {machine.name}",
    ]
    return "\n".join(lines)

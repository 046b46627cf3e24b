"""The rig's executor: create the router and machines of a `RigPlan`, run commands in them, cut and heal
their links, and remove everything again.

Each machine's mount namespace is made once (`unshare --mount=FILE` pins it to
a file, like `ip netns` pins network namespaces) so every command run in the
machine sees the same private /etc, /var/lib and /run, and mounts made there
(container root filesystems) stay there. `teardown` kills what still runs in
the machines, unpins the namespaces, deletes the network namespaces and the
rig's directory, and reports anything left.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.rig.plan import PRIVATE_DIRS, Machine, RigPlan, enter_argv, mount_script

TOOLS = ("ip", "nsenter", "unshare", "mount", "umount", "sysctl")


class RigError(Exception):
    """A rig step failed; the message has the command and its error."""


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def _run(argv: Sequence[str], check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RigError(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit status {proc.returncode}'}")
    return proc


def _netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def in_use(plan: RigPlan) -> bool:
    """Whether anything of this rig id exists already (another test's rig)."""
    return plan.base.exists() or _netns_exists(plan.router_netns) or any(
        _netns_exists(m.netns) for m in plan.machines)


class Rig:
    """A running rig; use as a context manager (or call `teardown`) so nothing outlives the test."""

    def __init__(self, plan: RigPlan) -> None:
        self.plan = plan

    def __enter__(self) -> Rig:
        try:
            self.create()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        left = self.teardown()
        if left:
            raise RigError("rig teardown left: " + "; ".join(left))

    # -- creation -----------------------------------------------------------------

    def create(self) -> None:
        missing = missing_tools()
        if missing:
            raise RigError(f"missing tools: {', '.join(missing)}")
        plan = self.plan
        if in_use(plan):
            raise RigError(f"rig {plan.rig_id} already exists ({plan.base} or its namespaces)")
        plan.ns_dir.mkdir(parents=True)
        # Pin files of mount namespaces must sit on a mount that does not propagate.
        _run(["mount", "--bind", str(plan.ns_dir), str(plan.ns_dir)])
        _run(["mount", "--make-private", str(plan.ns_dir)])
        _run(["ip", "netns", "add", plan.router_netns])
        self._in_router("ip", "link", "set", "lo", "up")
        self._in_router("sysctl", "-qw", "net.ipv4.ip_forward=1")
        for machine in plan.machines:
            self._create_machine(machine)

    def _in_router(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return _run(["nsenter", f"--net=/run/netns/{self.plan.router_netns}", "--", *argv])

    def _create_machine(self, m: Machine) -> None:
        _run(["ip", "netns", "add", m.netns])
        r = ["ip", "-n", self.plan.router_netns]
        _run([*r, "link", "add", m.router_if, "type", "veth", "peer", "name", "eth0", "netns", m.netns])
        _run([*r, "addr", "add", f"{m.gateway}/24", "dev", m.router_if])
        _run([*r, "link", "set", m.router_if, "up"])
        n = ["ip", "-n", m.netns]
        _run([*n, "link", "set", "lo", "up"])
        _run([*n, "addr", "add", f"{m.address}/24", "dev", "eth0"])
        _run([*n, "link", "set", "eth0", "up"])
        _run([*n, "route", "add", "default", "via", m.gateway])
        for path in PRIVATE_DIRS:
            (m.private_dir(path)).mkdir(parents=True, exist_ok=True)
        etc = m.private_dir("/etc")
        (etc / "upper").mkdir(exist_ok=True)
        (etc / "work").mkdir(exist_ok=True)
        m.mount_ns.touch()
        m.uts_ns.touch()
        _run(["nsenter", f"--net=/run/netns/{m.netns}", "--", "unshare", f"--mount={m.mount_ns}", f"--uts={m.uts_ns}",
              "--propagation", "private", "sh", "-c", mount_script(m)])

    # -- use ----------------------------------------------------------------------

    def argv(self, index: int, *argv: str) -> list[str]:
        """The argv that runs `argv` in machine `index` (for Popen of long-running daemons)."""
        return [*enter_argv(self.plan.machine(index)), *argv]

    def run(self, index: int, *argv: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a command in machine `index` and wait for it."""
        return _run(self.argv(index, *argv), check=check, timeout=timeout)

    def cut(self, index: int) -> None:
        """Take the machine's link off the router (as if its cable were pulled)."""
        self._in_router("ip", "link", "set", self.plan.machine(index).router_if, "down")

    def heal(self, index: int) -> None:
        self._in_router("ip", "link", "set", self.plan.machine(index).router_if, "up")

    def route_via(self, index: int, subnet: str) -> None:
        """Route `subnet` through machine `index` on the router (a network living behind that machine,
        e.g. the node bridge of a control-plane machine that also runs a node), as a site's router would."""
        self._in_router("ip", "route", "replace", subnet, "via", self.plan.machine(index).address)

    # -- teardown -----------------------------------------------------------------

    def pids_inside(self, only: int | None = None) -> list[int]:
        """Processes whose network namespace is one of the rig's (machines, router, or below), or
        machine `only`'s."""
        inodes: set[int] = set()
        names = [self.plan.machine(only).netns] if only else [self.plan.router_netns,
                                                                *(m.netns for m in self.plan.machines)]
        for name in names:
            try:
                inodes.add(os.stat(f"/run/netns/{name}").st_ino)
            except OSError:
                pass
        found: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.stat(entry / "ns" / "net").st_ino in inodes:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def teardown(self) -> list[str]:
        """Remove everything; returns what could not be removed (empty when clean)."""
        plan = self.plan
        for pid in self.pids_inside():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for m in plan.machines:
            for pin in (m.mount_ns, m.uts_ns):
                if pin.exists():
                    _run(["umount", str(pin)], check=False)
            if _netns_exists(m.netns):
                _run(["ip", "netns", "del", m.netns], check=False)
        if _netns_exists(plan.router_netns):
            _run(["ip", "netns", "del", plan.router_netns], check=False)
        if plan.ns_dir.exists():
            _run(["umount", str(plan.ns_dir)], check=False)
        if plan.base.exists() and not _mounts_below(plan.base):
            shutil.rmtree(plan.base, ignore_errors=True)
        return leftovers(plan)


def _mounts_below(path: Path) -> list[str]:
    prefix = str(path)
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if target == prefix or target.startswith(prefix + "/"):
            out.append(target)
    return out


def leftovers(plan: RigPlan) -> list[str]:
    """What of the rig still exists on the host."""
    left = [f"mount {t}" for t in _mounts_below(plan.base)]
    left += [f"netns {n}" for n in [plan.router_netns, *(m.netns for m in plan.machines)] if _netns_exists(n)]
    if plan.base.exists():
        left.append(f"directory {plan.base}")
    return left

"""The machine side of a VM cluster: the network namespace with its bridge and taps, QEMU, SSH.

Why a network namespace: the VMs' bridge, taps and addresses live in a
namespace of their own, so they touch nothing of the host's network (other
clusters, the host's routes) and deleting the namespace removes them all. The
host reaches the VMs by running `ssh` inside that namespace.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kubelite.procs import process_start_ticks, stop_process
from kubelite.vmcluster import plan as vp

STOP = threading.Event()
"""Set on SIGTERM/SIGINT so threads polling VMs give up and the run's cleanup is not kept waiting."""


class VmError(Exception):
    """A VM step failed; the message says which and where its log is."""


def run(argv: list[str], check: bool = True, timeout: float = 120,
        input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, input=input_bytes, check=False)
    except subprocess.TimeoutExpired:
        raise VmError(f"{' '.join(argv[:6])}... did not finish within {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        raise VmError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}")
    return proc


def in_netns(argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", vp.NETNS, *argv]


def netns_exists() -> bool:
    return Path("/run/netns", vp.NETNS).exists()


def create_network(cfg: vp.VmClusterConfig) -> None:
    """The namespace, its bridge (the VMs' gateway address) and one tap per VM on it."""
    if netns_exists():
        raise VmError(f"network namespace {vp.NETNS} exists (another VM cluster?): run `deploy/vm-cluster.sh down`")
    run(["ip", "netns", "add", vp.NETNS])
    ipn = ["ip", "-n", vp.NETNS]
    run([*ipn, "link", "set", "lo", "up"])
    run([*ipn, "link", "add", vp.BRIDGE, "type", "bridge"])
    run([*ipn, "addr", "add", f"{cfg.host_ip}/{cfg.network.prefixlen}", "dev", vp.BRIDGE])
    run([*ipn, "link", "set", vp.BRIDGE, "up"])
    for vm in cfg.machines():
        run([*ipn, "tuntap", "add", "dev", vm.tap, "mode", "tap"])
        run([*ipn, "link", "set", vm.tap, "master", vp.BRIDGE, "up"])


def remove_network(cfg: vp.VmClusterConfig) -> list[str]:
    """Taps, bridge and namespace; returns what could not be removed."""
    if not netns_exists():
        return []
    ipn = ["ip", "-n", vp.NETNS]
    for vm in cfg.machines():
        run([*ipn, "link", "del", vm.tap], check=False)
    run([*ipn, "link", "del", vp.BRIDGE], check=False)
    proc = run(["ip", "netns", "del", vp.NETNS], check=False)
    return [f"netns {vp.NETNS}: {proc.stderr.decode(errors='replace').strip()}"] if proc.returncode else []


def ssh_key(cfg: vp.VmClusterConfig) -> tuple[Path, str]:
    """The run's own key (made once per run, removed with it); returns (private key, public key text)."""
    key = cfg.run_dir / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kubelite-vm-cluster", "-f", str(key)])
    return key, key.with_suffix(".pub").read_text()


def ssh_argv(cfg: vp.VmClusterConfig, vm: vp.Vm, command: str, tty: bool = False) -> list[str]:
    key = cfg.run_dir / "id_ed25519"
    return in_netns(["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                     "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=60", "-o", "BatchMode=yes",
                     "-o", "ServerAliveInterval=30", *(["-t"] if tty else []), f"root@{vm.ip}", command])


def ssh(cfg: vp.VmClusterConfig, vm: vp.Vm, command: str, timeout: float = 300, check: bool = True,
        input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    for _ in range(3):  # a VM busy with the control plane can miss ssh's connect/banner deadline
        proc = run(ssh_argv(cfg, vm, command), check=False, timeout=timeout, input_bytes=input_bytes)
        if proc.returncode != 255 or b"onnection" not in proc.stderr:
            break
    if check and proc.returncode != 0:
        raise VmError(f"{vm.name}: `{command}` failed (exit {proc.returncode}):\n"
                      f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}")
    return proc


def ssh_stream(cfg: vp.VmClusterConfig, vm: vp.Vm, command: str, timeout: float,
               say: Callable[[str], None]) -> str:
    """`command` in the VM, its output shown line by line as `[vmN] ...` (init and join take minutes
    under emulation); returns the output, raises on failure."""
    lines: list[str] = []
    with subprocess.Popen(ssh_argv(cfg, vm, command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace") as proc:
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                say(f"  [{vm.name}] {line.rstrip()}")
        finally:
            timer.cancel()
        code = proc.wait()
    if code != 0:
        raise VmError(f"{vm.name}: `{command}` failed (exit {code}{', timed out' if code < 0 else ''})")
    return "".join(lines)


def copy_to(cfg: vp.VmClusterConfig, vm: vp.Vm, data: bytes, dest: str) -> None:
    ssh(cfg, vm, f"mkdir -p $(dirname {dest}) && cat > {dest}", input_bytes=data)


def start_vm(cfg: vp.VmClusterConfig, vm: vp.Vm, image: Path, pubkey: str) -> None:
    """A qcow2 overlay over the cached base image, then QEMU (daemonized) inside the namespace."""
    vm.disk.parent.mkdir(parents=True, exist_ok=True)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image / "rootfs.qcow2"), str(vm.disk)])
    argv = vp.qemu_argv(cfg, vm, image / "vmlinuz", image / "initrd.img", vp.kernel_cmdline(cfg, vm, pubkey))
    run(in_netns(argv), timeout=60)


def qemu_pid(vm: vp.Vm) -> int | None:
    """The VM's QEMU process if it still runs (the pid file is checked against the process's command line)."""
    try:
        pid = int(vm.pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"-pidfile" in cmdline and str(vm.pidfile).encode() in cmdline else None


def stop_vm(vm: vp.Vm) -> None:
    pid = qemu_pid(vm)
    ticks = process_start_ticks(pid) if pid is not None else None
    if pid is not None and ticks is not None:
        asyncio.run(stop_process(pid, ticks, 5.0))


def console_tail(vm: vp.Vm, lines: int = 25) -> str:
    try:
        text = vm.console_log.read_text(errors="replace")
    except OSError:
        return "(no console log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_ssh(cfg: vp.VmClusterConfig, vm: vp.Vm, deadline: float) -> None:
    """Poll until the VM runs commands over SSH (its QEMU still alive), or fail with its console."""
    while time.monotonic() < deadline and not STOP.is_set():
        if qemu_pid(vm) is None:
            raise VmError(f"{vm.name}: QEMU exited; console ({vm.console_log}):\n{console_tail(vm)}")
        try:
            if run(ssh_argv(cfg, vm, "true"), check=False, timeout=120).returncode == 0:
                return
        except VmError:  # sshd not answering in time yet: the guest is still starting
            pass
        time.sleep(3)  # a retry interval while the guest boots, not synchronisation
    raise VmError(f"{vm.name}: no SSH within the boot timeout; console ({vm.console_log}):\n{console_tail(vm)}")


def on_signals_exit() -> None:
    """SIGTERM/SIGHUP end the run like Ctrl-C, so its cleanup (`finally`) runs."""
    def handler(signum: int, _frame: object) -> None:
        STOP.set()
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def require_root() -> None:
    if os.geteuid() != 0:
        raise VmError("deploy/vm-cluster.sh needs root (network namespace, taps, mmdebstrap)")

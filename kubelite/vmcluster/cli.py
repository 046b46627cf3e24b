"""`deploy/vm-cluster.sh [up|down|image|ssh]`: a kubelite cluster on QEMU VMs, checked end to end.

`up` does, timing each step: the cached image (`image.build`), the kubelite
wheel of this checkout, N VMs booted on a private bridge (`vms`), kubelite
installed into them, `kubelite init` in VM 1 and the printed `kubelite join`
in the others (all at once), then the demo (examples/hello.yaml and
deploy/vm-demo-web.yaml) until its pods run on several nodes and the web
Service answers from every VM. Unless `--keep`, everything is removed at the
end, and always on failure or Ctrl-C/SIGTERM (`down`: VMs, taps, bridge,
namespace, overlays, the run's key).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubelite.vmcluster import image as vi
from kubelite.vmcluster import plan as vp
from kubelite.vmcluster import vms

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = "/var/lib/kubelite"  # `kubelite init`'s data directory in VM 1
# a long request timeout (also each connection attempt's): VM 1's emulated apiserver answers slowly
KCTL = "KUBELITE_CONFIG=/root/.kubelite/config kctl --request-timeout 2m"
DEMO = ("examples/hello.yaml", "deploy/vm-demo-web.yaml")


def say(msg: str) -> None:
    print(msg, flush=True)


def state_path(run_dir: Path) -> Path:
    return run_dir / "state.json"


class Timings:
    """Wall-clock seconds per step, printed as they come and summed up at the end."""

    def __init__(self) -> None:
        self.items: list[tuple[str, float]] = []

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.monotonic()
        result = fn()
        self.add(name, time.monotonic() - t0)
        return result

    def add(self, name: str, seconds: float) -> None:
        self.items.append((name, seconds))
        say(f"[timing] {name}: {seconds:.0f} s")

    def summary(self) -> str:
        return "\n".join(f"  {name:<28} {seconds:7.0f} s" for name, seconds in self.items)


def build_kubelite_wheel(dest: Path) -> Path:
    """The wheel of this checkout's tracked files (nothing the build makes lands in the checkout)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory(prefix="kubelite-vm-src-") as tmp:
        src = Path(tmp)
        for name in filter(None, files.decode().split("\0")):
            if (REPO / name).is_file():
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, src / name)
        vms.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                 "--disable-pip-version-check", "-w", str(dest), str(src)], timeout=600)
    (wheel,) = dest.glob("kubelite-*.whl")
    return wheel


# Kernel modules a node needs loaded (as Kubernetes' node set-up asks): bridged pod traffic through
# iptables (the node network sets net.bridge.bridge-nf-call-iptables), the VXLAN overlay.
NODE_MODULES = ("br_netfilter", "vxlan", "overlay")


def install_kubelite(cfg: vp.VmClusterConfig, vm: vp.Vm, wheel: Path) -> None:
    """The node's kernel modules, then kubelite into the image's venv, offline (its dependencies are
    already there)."""
    vms.ssh(cfg, vm, f"modprobe -a {' '.join(NODE_MODULES)}")
    dest = f"/root/{wheel.name}"
    vms.copy_to(cfg, vm, wheel.read_bytes(), dest)
    vms.ssh(cfg, vm, f"{vi.VENV}/bin/pip install -q --no-index --no-deps --force-reinstall {dest}", timeout=1200)


def each(cfg: vp.VmClusterConfig, fn: Callable[[vp.Vm], Any], machines: list[vp.Vm] | None = None) -> list[Any]:
    """`fn` on every VM at once (they are separate machines); the first error is raised."""
    machines = cfg.machines() if machines is None else machines
    with ThreadPoolExecutor(max_workers=len(machines)) as pool:
        return [f.result() for f in [pool.submit(fn, vm) for vm in machines]]


def kctl(cfg: vp.VmClusterConfig, cp: vp.Vm, args: str, patience: float = 300) -> bytes:
    """`kctl ARGS` in VM 1, tried again while it cannot reach the apiserver: under emulation a
    control plane just started can miss gRPC's connect deadline for a minute or more."""
    deadline = time.monotonic() + patience
    while True:
        proc = vms.ssh(cfg, cp, f"{KCTL} {args}", timeout=600, check=False)
        if proc.returncode == 0:
            return proc.stdout
        out = proc.stdout + proc.stderr
        unreachable = b"cannot reach the kubelite apiserver" in out or b"did not answer in time" in out
        if not unreachable or time.monotonic() > deadline:
            raise vms.VmError(f"{cp.name}: `kctl {args}` failed (exit {proc.returncode}):\n"
                              f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}")
        say(f"  kctl {args}: the apiserver is not answering yet; trying again")
        time.sleep(5)  # a retry pause, not synchronisation: the loop ends on success or the deadline


def kctl_json(cfg: vp.VmClusterConfig, cp: vp.Vm, args: str) -> dict[str, Any]:
    return dict(json.loads(kctl(cfg, cp, f"{args} -o json")))


def demo_state(cfg: vp.VmClusterConfig, cp: vp.Vm) -> tuple[dict[str, set[str]], int]:
    """Running pods' nodes per app label, and the number of Ready nodes."""
    pods = kctl_json(cfg, cp, "get pods")["items"]
    running: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for p in pods:
        if p.get("status", {}).get("phase") == "Running":
            app = p["metadata"].get("labels", {}).get("app", "")
            running.setdefault(app, set()).add(p["spec"].get("nodeName", ""))
            counts[app] = counts.get(app, 0) + 1
    nodes = kctl_json(cfg, cp, "get nodes")["items"]
    ready = sum(1 for n in nodes for c in n.get("status", {}).get("conditions", [])
                if c.get("type") == "Ready" and c.get("status") == "True")
    say(f"  running: {({k: (counts[k], sorted(v)) for k, v in running.items()})}; Ready nodes: {ready}")
    return running, counts.get("hello", 0)


def wait_demo(cfg: vp.VmClusterConfig, cp: vp.Vm) -> dict[str, set[str]]:
    deadline = time.monotonic() + cfg.demo_timeout
    while time.monotonic() < deadline:
        running, hello = demo_state(cfg, cp)
        if hello >= 3 and len(running.get("web", set())) >= 2:
            return running
        time.sleep(10)  # a poll interval: each kctl call takes seconds under emulation
    raise vms.VmError("the demo did not run within --demo-timeout:\n"
                      + vms.ssh(cfg, cp, f"{KCTL} get pods -o wide; {KCTL} get nodes", check=False)
                      .stdout.decode(errors="replace"))


def check_service(cfg: vp.VmClusterConfig, cp: vp.Vm) -> dict[str, str]:
    """The web Service's ClusterIP answers from every node (its iptables rules and the overlay)."""
    ip = kctl_json(cfg, cp, "get service web")["spec"]["clusterIP"]
    answers: dict[str, str] = {}
    for vm, prefix in vp.service_checks(cfg):
        proc = vms.ssh(cfg, vm, f"{prefix}curl -sS --max-time 10 --retry 6 --retry-all-errors http://{ip}/",
                       check=False, timeout=200)
        answers[vm.name] = (proc.stdout or proc.stderr).decode(errors="replace").strip()
        if proc.returncode != 0:
            raise vms.VmError(f"Service web ({ip}) did not answer from {vm.name}: {answers[vm.name]}")
        say(f"  {vm.name} -> http://{ip}/: {answers[vm.name]}")
    return answers


def diagnose(cfg: vp.VmClusterConfig) -> None:
    """What helps after a failure: each VM's console tail and kubelite's log tails."""
    for vm in cfg.machines():
        say(f"--- {vm.name} console ({vm.console_log}) ---\n{vms.console_tail(vm, 15)}")
        if vms.qemu_pid(vm) is not None:
            proc = vms.ssh(cfg, vm, "tail -n 15 /var/lib/kubelite/logs/*.log /var/lib/kubelite-node/logs/*.log "
                                    "2>/dev/null | tail -n 60", check=False, timeout=120)
            say(f"--- {vm.name} kubelite logs ---\n{proc.stdout.decode(errors='replace')}")


def up(cfg: vp.VmClusterConfig) -> int:
    if state_path(cfg.run_dir).exists() or vms.netns_exists():
        raise vms.VmError(f"a VM cluster exists ({cfg.run_dir} or netns {vp.NETNS}): run `deploy/vm-cluster.sh down`")
    timings = Timings()
    t0 = time.monotonic()
    image, built = vi.build(cfg, REPO, say)
    timings.add("image build" if built else "image (cached)", time.monotonic() - t0)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    state_path(cfg.run_dir).write_text(json.dumps(cfg.to_dict(), indent=1))
    try:
        wheel = timings.step("kubelite wheel", lambda: build_kubelite_wheel(cfg.run_dir / "wheel"))
        machines = cfg.machines()
        cp, joiners = machines[0], machines[1:]
        vms.create_network(cfg)
        _, pubkey = vms.ssh_key(cfg)
        say(f"booting {len(machines)} VMs ({cfg.accel}); consoles: {cfg.run_dir}/vm*/console.log")
        t_boot = time.monotonic()
        for vm in machines:
            vms.start_vm(cfg, vm, image, pubkey)
        deadline = time.monotonic() + cfg.boot_timeout
        each(cfg, lambda vm: vms.wait_ssh(cfg, vm, deadline))
        timings.add(f"boot ({len(machines)} VMs to SSH)", time.monotonic() - t_boot)
        timings.step("install kubelite", lambda: each(cfg, lambda vm: install_kubelite(cfg, vm, wheel)))
        say(f"kubelite init in {cp.name} ({cp.ip})")
        init = timings.step("kubelite init", lambda: vms.ssh_stream(
            cfg, cp, vp.init_command(cfg, DATA_DIR), cfg.init_timeout + 120, say))
        join = vp.parse_join_command(init)
        say(f"  {' '.join(join[:3])} --token ... on {', '.join(vm.name for vm in joiners)}")

        def joined(vm: vp.Vm) -> None:
            t = time.monotonic()
            vms.ssh_stream(cfg, vm, shlex.join([*join, "--runtime", "runc", "--timeout", f"{cfg.init_timeout:.0f}"]),
                           cfg.init_timeout + 120, say)
            timings.add(f"join {vm.name}", time.monotonic() - t)
        t_join = time.monotonic()
        each(cfg, joined, joiners)
        timings.add("all joins", time.monotonic() - t_join)
        t_demo = time.monotonic()
        for rel in DEMO:
            vms.copy_to(cfg, cp, (REPO / rel).read_bytes(), f"/root/demo/{Path(rel).name}")
        kctl(cfg, cp, "apply -f /root/demo/", patience=cfg.demo_timeout)
        running = wait_demo(cfg, cp)
        timings.add("demo Running", time.monotonic() - t_demo)
        timings.step("Service from every VM", lambda: check_service(cfg, cp))
        say(f"\nThe demo runs on {len(set().union(*running.values()))} nodes: "
            + "; ".join(f"{app}: {', '.join(sorted(nodes))}" for app, nodes in sorted(running.items())))
        say(vms.ssh(cfg, cp, f"{KCTL} get nodes; {KCTL} get pods -o wide").stdout.decode(errors="replace"))
    except vms.VmError:
        diagnose(cfg)
        raise
    finally:
        timings.add("total", time.monotonic() - t0)
        say("\nTimings:\n" + timings.summary())
        if cfg.keep:
            say(f"\nKept running (--keep). A shell: deploy/vm-cluster.sh ssh 1   Remove: deploy/vm-cluster.sh down "
                f"--run-dir {cfg.run_dir}")
        else:
            down(cfg)
    say("\nVM cluster check passed.")
    return 0


def down(cfg: vp.VmClusterConfig) -> int:
    """Stop the VMs and remove taps, bridge, namespace, overlays and the run's key; idempotent."""
    recorded = state_path(cfg.run_dir)
    if recorded.exists():
        cfg = vp.VmClusterConfig.from_dict(json.loads(recorded.read_text()))
    for vm in cfg.machines():
        vms.stop_vm(vm)
    problems = vms.remove_network(cfg)
    shutil.rmtree(cfg.run_dir, ignore_errors=True)
    if problems:
        raise vms.VmError("could not remove: " + "; ".join(problems))
    say(f"VM cluster removed (VMs stopped; netns {vp.NETNS}, bridge, taps and {cfg.run_dir} deleted)")
    return 0


def ssh_command(cfg: vp.VmClusterConfig, rest: list[str]) -> int:
    recorded = state_path(cfg.run_dir)
    if not recorded.exists():
        raise vms.VmError(f"no VM cluster in {cfg.run_dir} (start one with --keep)")
    cfg = vp.VmClusterConfig.from_dict(json.loads(recorded.read_text()))
    if not rest or not rest[0].isdigit() or not 1 <= int(rest[0]) <= cfg.vms:
        raise vp.PlanError(f"ssh: give a VM number 1..{cfg.vms}, then optionally a command")
    command = rest[1:]
    if command[:1] == ["--"]:
        command = command[1:]
    # joined with spaces, as ssh itself does: `ssh 1 -- 'a; b'` runs a remote shell line
    argv = vms.ssh_argv(cfg, cfg.machines()[int(rest[0]) - 1], " ".join(command), tty=not command)
    return subprocess.call(argv)


def main(argv: list[str] | None = None) -> int:
    args = vp.parser().parse_args(argv)
    try:
        cfg = vp.config_from_args(args) if args.command != "ssh" else vp.VmClusterConfig(run_dir=args.run_dir)
        vms.require_root()
        vms.on_signals_exit()
        if args.command == "down":
            return down(cfg)
        if args.command == "ssh":
            return ssh_command(cfg, args.rest)
        if args.command == "image":
            out, built = vi.build(cfg, REPO, say)
            say(f"image {'built' if built else 'cached'}: {out}")
            return 0
        return up(cfg)
    except (vp.PlanError, vms.VmError, vi.ImageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted" + ("" if args.keep else "; cleaned up"), file=sys.stderr)
        return 130

"""The VMs' Debian 12 image: built once with mmdebstrap, kept in the cache directory.

Why this shape: the VMs have no internet, so everything a node needs is put in
at build time on the host: Debian's runc, conmon, CNI plugins, iptables, nginx,
docker-registry and python3.11 from the configured Debian mirror, and kubelite's
Python dependencies as a wheelhouse downloaded from PyPI on the host and
installed offline into /opt/kubelite (a venv). kubelite itself is not in the
image (it changes with every commit): each run installs the freshly built
kubelite wheel into the VMs over SSH (`run.install_kubelite`). The image is
keyed by what goes into it (`plan.image_key`), so a second run skips the build.

The result in `<cache>/<key>/`: rootfs.qcow2 (the base of every VM's overlay),
vmlinuz and initrd.img (for QEMU's direct kernel boot).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from kubelite.vmcluster import plan as vp

# Applies what makes a VM itself from the kernel command line (see plan.kernel_cmdline).
GUEST_NET_SCRIPT = """#!/bin/sh
# kubelite VM: address, routes and the run's SSH key from the kernel command line (deploy/vm-cluster.sh)
set -eu
ip=""; gw=""; routes=""; key=""
# eth0 appears once its driver is loaded: load it rather than wait for udev's coldplug, which can take
# minutes under emulation on a busy host (longer than systemd's device timeout)
modprobe virtio_net 2>/dev/null || true
i=0
while [ ! -e /sys/class/net/eth0 ] && [ "$i" -lt 1200 ]; do sleep 1; i=$((i + 1)); done
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    kl.ip=*) ip="${arg#kl.ip=}" ;;
    kl.gw=*) gw="${arg#kl.gw=}" ;;
    kl.route=*) routes="$routes ${arg#kl.route=}" ;;
    kl.sshkey=*) key="${arg#kl.sshkey=}" ;;
  esac
done
ip link set lo up
ip link set eth0 up
if [ -n "$ip" ]; then
  ip addr replace "$ip" dev eth0
  grep -q " $(hostname)\\$" /etc/hosts || echo "${ip%/*} $(hostname)" >> /etc/hosts
fi
[ -z "$gw" ] || ip route replace default via "$gw"
for r in $routes; do ip route replace "${r%,*}" via "${r#*,}"; done
mkdir -p -m 700 /root/.ssh
[ -z "$key" ] || echo "ssh-ed25519 $key kubelite-vm-cluster" > /root/.ssh/authorized_keys
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
"""

GUEST_NET_UNIT = """[Unit]
Description=kubelite VM network and SSH key from the kernel command line
After=systemd-modules-load.service
Before=ssh.service network-online.target

[Service]
Type=oneshot
TimeoutStartSec=infinity
RemainAfterExit=yes
ExecStart=/usr/local/sbin/kl-vm-net

[Install]
WantedBy=multi-user.target
"""

# One host key (made at first boot, per VM); key-only root login from the run's key.
GUEST_SSHD = """HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""

GUEST_FILES = {
    "usr/local/sbin/kl-vm-net": GUEST_NET_SCRIPT,
    "etc/systemd/system/kl-vm-net.service": GUEST_NET_UNIT,
    "etc/ssh/sshd_config.d/kubelite-vm.conf": GUEST_SSHD,
    "etc/fstab": "/dev/vda / ext4 rw,noatime 0 1\n",
}

VENV = "/opt/kubelite"
# Debian services a kubelite node must not have running on its own (kubelite starts nginx and the
# registry itself, on its own ports and configuration).
# e2scrub_reap only looks for LVM snapshots (there are none) and takes minutes under emulation.
MASKED = ("nginx.service", "docker-registry.service", "apt-daily.timer", "apt-daily-upgrade.timer",
          "e2scrub_reap.service")


class ImageError(Exception):
    """The image could not be built; the message says which step."""


def requirements(repo: Path) -> list[str]:
    """kubelite's runtime dependencies, as pyproject.toml pins them."""
    with open(repo / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def image_dir(cfg: vp.VmClusterConfig, repo: Path) -> Path:
    return cfg.cache_dir / vp.image_key(cfg, requirements(repo), {**GUEST_FILES, "masked": " ".join(MASKED)})


def _run(step: str, argv: list[str], log: Path, timeout: float = 3600, env: dict[str, str] | None = None) -> None:
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        try:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImageError(f"{step}: {exc} (log: {log})") from None
    if proc.returncode != 0:
        raise ImageError(f"{step} failed with exit code {proc.returncode}; see {log}")


def missing_tools() -> list[str]:
    tools = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}
    return [f"{t} (Debian package {pkg})" for t, pkg in tools.items()
            if shutil.which(t, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") is None]


def wheelhouse(reqs: list[str], dest: Path, log: Path) -> None:
    """Binary wheels of kubelite's dependencies for this host's Python ABI (Debian 12's python3.11)."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "requirements.txt").write_text("\n".join(reqs) + "\n")
    _run("pip download (kubelite's dependencies)",
         [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
          "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
          "--platform", "manylinux_2_34_x86_64", "--implementation", "cp",
          "-d", str(dest), "-r", str(dest / "requirements.txt")], log)


def mmdebstrap_argv(cfg: vp.VmClusterConfig, stage: Path, rootfs: Path) -> list[str]:
    """mmdebstrap for the root filesystem, customised in hooks (which run with /proc and /dev mounted)."""
    hooks = [
        f'cp -a {stage}/. "$1/"',
        'chmod 755 "$1/usr/local/sbin/kl-vm-net"',
        f'chroot "$1" python3 -m venv {VENV}',
        f'chroot "$1" {VENV}/bin/pip install -q --no-index --find-links /tmp/wheelhouse '
        '-r /tmp/wheelhouse/requirements.txt',
        'rm -rf "$1/tmp/wheelhouse" "$1"/etc/ssh/ssh_host_* "$1"/var/lib/apt/lists/*_Packages',
        'systemctl --root="$1" enable kl-vm-net.service ssh.service',
        f'systemctl --root="$1" mask {" ".join(MASKED)}',
        f'ln -sf {VENV}/bin/kubelite "$1/usr/local/bin/kubelite"',
        f'ln -sf {VENV}/bin/kctl "$1/usr/local/bin/kctl"',
        'echo > "$1/etc/machine-id"',
    ]
    argv = ["mmdebstrap", "--mode=root", "--variant=minbase", "--format=directory",
            "--include=" + ",".join(vp.NODE_PACKAGES + vp.BOOT_PACKAGES),
            "--aptopt=Acquire::Retries \"3\"",
            "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*"]
    argv += [f"--customize-hook={h}" for h in hooks]
    argv += [vp.SUITE, str(rootfs),
             f"deb {cfg.mirror} {vp.SUITE} main", f"deb {cfg.mirror} {vp.SUITE}-updates main",
             f"deb {cfg.security_mirror} {vp.SUITE}-security main"]
    return argv


def build(cfg: vp.VmClusterConfig, repo: Path, say: Callable[[str], None]) -> tuple[Path, bool]:
    """The image directory, built if it is not cached; returns (dir, built_now)."""
    out = image_dir(cfg, repo)
    if all((out / f).is_file() for f in ("rootfs.qcow2", "vmlinuz", "initrd.img")):
        return out, False
    missing = missing_tools()
    if missing:
        raise ImageError("missing: " + ", ".join(missing))
    work = cfg.cache_dir / (out.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = work / "build.log"
    say(f"building the VM image in {out} (log: {log})")
    stage = work / "stage"
    for rel, text in GUEST_FILES.items():
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / rel).write_text(text)
    say("  wheelhouse of kubelite's Python dependencies (pip download)")
    wheelhouse(requirements(repo), stage / "tmp" / "wheelhouse", log)
    rootfs = work / "rootfs"
    say("  Debian 12 root filesystem (mmdebstrap)")
    # the host's pip settings (PIP_* variables) mean nothing inside the image's chroot
    _run("mmdebstrap", mmdebstrap_argv(cfg, stage, rootfs), log,
         env={k: v for k, v in os.environ.items() if not k.startswith("PIP_")})
    boot = rootfs / "boot"
    kernels = sorted(boot.glob("vmlinuz-*"))
    initrds = sorted(boot.glob("initrd.img-*"))
    if not kernels or not initrds:
        raise ImageError(f"the image has no kernel or initrd in {boot}; see {log}")
    shutil.copy2(kernels[-1], work / "vmlinuz")
    shutil.copy2(initrds[-1], work / "initrd.img")
    say("  ext4 file system and qcow2 base image")
    raw = work / "rootfs.raw"
    _run("truncate", ["truncate", "-s", vp.IMAGE_SIZE, str(raw)], log)
    _run("mkfs.ext4", ["mkfs.ext4", "-q", "-F", "-L", "kubelite-root", "-d", str(rootfs), str(raw)], log)
    _run("qemu-img convert", ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw),
                              str(work / "rootfs.qcow2")], log)
    raw.unlink()
    shutil.rmtree(rootfs)
    shutil.rmtree(stage)
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    return out, True

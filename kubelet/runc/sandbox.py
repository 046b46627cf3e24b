"""A pod sandbox without a pause process: namespaces kept alive by bind mounts.

Why pause-less: a pod's shared network, IPC and UTS namespaces only need
*something* to hold them. Bind-mounting the namespace files (as `ip netns add`
does) under the sandbox directory holds them with no process to supervise, and
the mounts survive a kubelet restart. The hostname is set once inside the UTS
namespace; the pod's /dev/shm is a tmpfs every container binds (it belongs with
the shared IPC namespace). `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`
are files here that containers bind-mount.

    <state>/sandboxes/<id>/sandbox.json   what a restarted kubelet re-adopts
    <state>/sandboxes/<id>/{net,ipc,uts}  namespace bind mounts
    <state>/sandboxes/<id>/shm/           tmpfs
    <state>/sandboxes/<id>/{hosts,hostname,resolv.conf}
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelet.runc import namespaces, overlay
from kubelet.runtime import DnsConfig, PodSandboxConfig, PortMapping, SandboxError

HOSTNAME_MAX = 63


@dataclass
class SandboxRecord:
    id: str
    config: PodSandboxConfig
    dir: Path
    ip: str = ""
    ready: bool = True
    created_at: float = 0.0
    containers: list[str] = field(default_factory=list)

    @property
    def hostname(self) -> str:
        return (self.config.hostname or self.config.name)[:HOSTNAME_MAX]

    @property
    def netns_path(self) -> str:
        return "" if self.config.host_network else str(self.dir / "net")

    @property
    def ipc_path(self) -> Path:
        return self.dir / "ipc"

    @property
    def uts_path(self) -> Path | None:
        return None if self.config.host_network else self.dir / "uts"

    @property
    def shm_path(self) -> Path:
        return self.dir / "shm"

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "id": self.id, "ip": self.ip, "ready": self.ready, "created_at": self.created_at,
            "config": {
                "name": c.name, "namespace": c.namespace, "uid": c.uid, "log_directory": str(c.log_directory),
                "work_directory": str(c.work_directory), "hostname": c.hostname, "host_network": c.host_network,
                "host_aliases": [[ip, names] for ip, names in c.host_aliases],
                "dns": None if c.dns is None else {"servers": c.dns.servers, "searches": c.dns.searches,
                                                    "options": c.dns.options},
                "port_mappings": [
                    {"container_port": p.container_port, "host_port": p.host_port, "protocol": p.protocol,
                     "host_ip": p.host_ip} for p in c.port_mappings
                ],
            },
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], directory: Path) -> SandboxRecord:
        c = doc["config"]
        dns = c.get("dns")
        config = PodSandboxConfig(
            name=str(c["name"]), namespace=str(c["namespace"]), uid=str(c["uid"]),
            log_directory=Path(c["log_directory"]), work_directory=Path(c["work_directory"]),
            hostname=str(c.get("hostname", "")), host_network=bool(c.get("host_network", False)),
            host_aliases=[(str(ip), [str(n) for n in names]) for ip, names in c.get("host_aliases", [])],
            dns=None if dns is None else DnsConfig(list(dns["servers"]), list(dns["searches"]), list(dns["options"])),
            port_mappings=[PortMapping(int(p["container_port"]), int(p["host_port"]), str(p["protocol"]),
                                       str(p["host_ip"])) for p in c.get("port_mappings", [])],
        )
        return cls(str(doc["id"]), config, directory, str(doc.get("ip", "")), bool(doc.get("ready", True)),
                   float(doc.get("created_at", 0.0)))

    def save(self) -> None:
        tmp = self.dir / "sandbox.json.tmp"
        tmp.write_text(json.dumps(self.to_json()))
        os.replace(tmp, self.dir / "sandbox.json")


def hosts_file(hostname: str, ip: str, aliases: list[tuple[str, list[str]]] | None = None) -> str:
    """The pod's /etc/hosts: localhost, the pod's own name, then its spec.hostAliases."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    if ip:
        lines.append(f"{ip}\t{hostname}")
    if aliases:
        lines.append("")
        lines.append("# Entries added by HostAliases.")
        lines += [f"{alias_ip}\t" + "\t".join(names) for alias_ip, names in aliases]
    return "\n".join(lines) + "\n"


def resolv_conf(dns: DnsConfig | None, host_resolv: str) -> str:
    """The pod's resolv.conf: its DnsConfig, else the node's own (dnsPolicy Default)."""
    if dns is None:
        return host_resolv
    out = []
    if dns.searches:
        out.append("search " + " ".join(dns.searches))
    out += [f"nameserver {s}" for s in dns.servers]
    if dns.options:
        out.append("options " + " ".join(dns.options))
    return "\n".join(out) + "\n"


def write_pod_files(rec: SandboxRecord) -> None:
    """(Re)write /etc/hosts, /etc/hostname and /etc/resolv.conf of the pod (e.g. once the IP is known)."""
    try:
        host_resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        host_resolv = ""
    files = {
        "hosts": hosts_file(rec.hostname, rec.ip, rec.config.host_aliases),
        "hostname": rec.hostname + "\n",
        "resolv.conf": resolv_conf(rec.config.dns, host_resolv),
    }
    for name, text in files.items():
        # In place, never replaced: a container bind-mounts the file's inode, and containers
        # are created while the network (and so the IP in /etc/hosts) is still being attached.
        # None of them has started yet then, so nobody reads a half-written file.
        (rec.dir / name).write_text(text)


async def create_namespaces(rec: SandboxRecord) -> None:
    """Create the pod's IPC (+ net and UTS unless host network) namespaces, held by bind mounts,
    with the hostname set and `lo` up inside (`namespaces.py`: no process per sandbox)."""
    kinds = ["ipc"] if rec.config.host_network else ["ipc", "net", "uts"]
    try:
        await namespaces.create(rec.dir, kinds, None if rec.config.host_network else rec.hostname)
    except OSError as exc:
        raise SandboxError(f"cannot create the pod namespaces: {exc.strerror or exc}") from exc
    overlay.mount_tmpfs(rec.shm_path)


def release(rec: SandboxRecord) -> None:
    """Unmount the namespaces and shm and delete the sandbox directory (idempotent)."""
    for mount in sorted(overlay.mounts_under(rec.dir), key=len, reverse=True):
        overlay.unmount(Path(mount))
    shutil.rmtree(rec.dir, ignore_errors=True)


def rmtree_same_fs(path: Path) -> None:
    """Remove a directory tree without descending into mount points (a volume still
    mounted under a pod directory must never be wiped through it)."""
    try:
        dev = path.lstat().st_dev
    except OSError:
        return
    mounts = set(overlay.mounts_under(path))
    dirs_seen: list[str] = []
    for root, dirs, files in os.walk(path, topdown=True):
        dirs_seen.append(root)
        keep = []
        for name in dirs:
            full = os.path.join(root, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if os.path.islink(full):
                files.append(name)
            elif st.st_dev == dev and full not in mounts:
                keep.append(name)
        dirs[:] = keep
        for name in files:
            try:
                os.unlink(os.path.join(root, name))
            except OSError:
                pass
    for d in reversed(dirs_seen):
        try:
            os.rmdir(d)
        except OSError:
            pass

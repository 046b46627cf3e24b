"""The local cluster's image registry: Debian's `docker-registry`, seeded with busybox.

Why a real registry on the host: nodes are separate network namespaces (and in
spirit separate machines), so images reach them the way they reach real nodes,
over the OCI distribution API. `kubelite up` starts it (or reuses one already
answering `/v2/` on the port, e.g. left by a previous cluster or run by the
user) and pushes the project-built busybox image with our own v2 push code, so
`image: busybox` works without any internet access.

State: `<data-dir>/registry/` holds config.yml, the storage, the log and
registry.json (address, pid, start time) so `down` and `kubelite image load`
find it again.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from kubelet.images.auth import RegistryAuth
from kubelet.images.builder import BuiltImage, build_busybox_image
from kubelet.images.distribution import RegistryClient, RegistryOptions
from kubelet.images.errors import RegistryError
from kubelite.procs import process_start_ticks, stop_process

REGISTRY_BIN = "docker-registry"
DEFAULT_LISTEN = "127.0.0.1:5000"
BUSYBOX_REPOSITORY = "library/busybox"


class RegistryStartError(Exception):
    """The registry could not be started or seeded; the message says why (for `kubelite up`)."""


@dataclass
class LocalRegistry:
    """A running registry: the address clients on the host use, and the process if we started it."""

    address: str
    pid: int | None = None
    start_ticks: int | None = None
    reused: bool = False


def registry_dir(data_dir: Path) -> Path:
    return data_dir / "registry"


def _client_address(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    return f"127.0.0.1:{port}" if host in ("0.0.0.0", "", "[::]") else listen


def write_config(directory: Path, listen: str, tls_cert: Path | None = None, tls_key: Path | None = None,
                 htpasswd: Path | None = None) -> Path:
    """A docker-registry config: filesystem storage under `directory`, deletes allowed, quiet logs."""
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}, "delete": {"enabled": True},
                    "cache": {"blobdescriptor": "inmemory"}},
        "http": {"addr": listen, "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if tls_cert and tls_key:
        config["http"] = {**config["http"], "tls": {"certificate": str(tls_cert), "key": str(tls_key)}}  # type: ignore[dict-item]
    if htpasswd:
        config["auth"] = {"htpasswd": {"realm": "kubelite-registry", "path": str(htpasswd)}}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def registry_answers(address: str, timeout: float = 2.0) -> bool:
    """True when a v2 registry (HTTP or HTTPS) answers `/v2/` at `address`."""
    return await RegistryClient(address, options=RegistryOptions(insecure={address}, timeout=timeout)).ping()


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Detached in its own session: the registry must outlive the `kubelite up` process."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)


def _threads_left(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def _reap(pid: int) -> None:
    """Collect the exit status when the registry is our own child (tests start and stop it)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(5)


async def start_registry(directory: Path, listen: str = DEFAULT_LISTEN, *, tls_cert: Path | None = None,
                         tls_key: Path | None = None, htpasswd: Path | None = None, timeout: float = 15.0,
                         reuse: bool = True) -> LocalRegistry:
    """Start `docker-registry serve` detached (it outlives `kubelite up`) and wait until it answers."""
    address = _client_address(listen)
    if reuse and await registry_answers(address):
        return LocalRegistry(address, reused=True)
    binary = shutil.which(REGISTRY_BIN) or shutil.which(REGISTRY_BIN, path="/usr/bin:/usr/sbin")
    if binary is None:
        raise RegistryStartError("docker-registry is not installed (Debian package `docker-registry`)")
    config = write_config(directory, listen, tls_cert, tls_key, htpasswd)
    log_path = directory / "registry.log"
    proc = _spawn([binary, "serve", str(config)], log_path)
    ticks = process_start_ticks(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise RegistryStartError(f"docker-registry exited with code {proc.returncode} while starting on {listen}: "
                                     + (" | ".join(tail) or "no output") + f" (log: {log_path})")
        if await registry_answers(address, timeout=1.0):
            reg = LocalRegistry(address, proc.pid, ticks)
            (directory / "registry.json").write_text(json.dumps(asdict(reg)))
            return reg
        await asyncio.sleep(0.05)
    _kill(proc)
    raise RegistryStartError(f"docker-registry did not answer on {address} within {timeout:g}s (log: {log_path})")


async def stop_registry(reg: LocalRegistry, grace: float = 10.0) -> None:
    """Stop a registry this cluster started (a reused one is left alone)."""
    if reg.reused or reg.pid is None or reg.start_ticks is None:
        return
    await stop_process(reg.pid, reg.start_ticks, grace)
    # A Go program's main thread turns zombie before its other threads have exited and
    # closed the listening socket: wait for those, so "stopped" means "port closed".
    for _ in range(250):  # up to 5 s
        if _threads_left(reg.pid) <= 1:
            break
        await asyncio.sleep(0.02)
    _reap(reg.pid)


def load_registry(data_dir: Path) -> LocalRegistry | None:
    """The registry `kubelite up` recorded for this cluster, if any."""
    try:
        return LocalRegistry(**json.loads((registry_dir(data_dir) / "registry.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


async def push_image(address: str, repository: str, tag: str, blobs: dict[str, Path | bytes], manifest: bytes,
                     media_type: str, auth: RegistryAuth | None = None, options: RegistryOptions | None = None) -> str:
    """Push blobs (skipping those the registry has) then the manifest under `tag`; returns its digest."""
    client = RegistryClient(address, auth, options or RegistryOptions(insecure={address}))
    for digest, source in blobs.items():
        await client.push_blob(repository, digest, source)
    return await client.push_manifest(repository, tag, manifest, media_type)


async def push_built(address: str, image: BuiltImage, repository: str, tag: str,
                     auth: RegistryAuth | None = None, options: RegistryOptions | None = None) -> str:
    blobs: dict[str, Path | bytes] = {image.config_digest: image.config}
    blobs.update({layer.digest: layer.blob for layer in image.layers})
    return await push_image(address, repository, tag, blobs, image.manifest, json.loads(image.manifest)["mediaType"],
                            auth, options)


async def seed_busybox(address: str, busybox: Path = Path("/bin/busybox"), tag: str = "latest") -> str:
    """Push the project-built busybox image as `library/busybox:<tag>` (a no-op when already there)."""
    try:
        image = await asyncio.to_thread(build_busybox_image, busybox, f"busybox:{tag}")
    except (OSError, subprocess.SubprocessError) as exc:
        raise RegistryStartError(f"cannot build the busybox image: {exc}") from None
    try:
        return await push_built(address, image, BUSYBOX_REPOSITORY, tag)
    except RegistryError as exc:
        raise RegistryStartError(f"cannot seed the registry at {address} with busybox: {exc}") from None


async def ensure_registry(data_dir: Path, listen: str = DEFAULT_LISTEN, seed: bool = True,
                          timeout: float = 15.0, tls: tuple[Path, Path] | None = None) -> LocalRegistry:
    """What `kubelite up` calls: a registry answering at `listen`, holding busybox (latest and its version);
    `tls` (certificate, key): served over HTTPS (`kubelite init`, for nodes on other machines)."""
    directory = registry_dir(data_dir)
    cert, key = tls or (None, None)
    reg = await start_registry(directory, listen, timeout=timeout, tls_cert=cert, tls_key=key)
    if reg.reused:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "registry.json").write_text(json.dumps(asdict(reg)))
    if seed:
        for tag in ("latest", *busybox_version_tags()):
            await seed_busybox(reg.address, tag=tag)
    return reg


def busybox_version_tags(busybox: Path = Path("/bin/busybox")) -> list[str]:
    """`1.35` and `1.35.0` for Debian's busybox 1.35.0, so manifests pinning the version pull too."""
    try:
        banner = subprocess.run([str(busybox)], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    match = re.search(r"BusyBox v(\d+)\.(\d+)\.(\d+)", banner)
    if match is None:
        return []
    major, minor, patch = match.groups()
    return [f"{major}.{minor}", f"{major}.{minor}.{patch}"]

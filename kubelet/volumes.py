"""Pod volumes on the node: emptyDir, hostPath, persistentVolumeClaim, configMap, secret, projected, downwardAPI.

Why projected files with a `..data` symlink (like Kubernetes' atomic writer):
a ConfigMap or Secret volume must change while its containers run, and a
reader must never see half an update. Each version of the files goes into a
fresh hidden directory `..<timestamp>`; `..data` is a symlink to it, replaced
with one rename(2); every visible entry is a relative symlink `key ->
..data/key`. The symlinks are relative, so the whole volume directory can be
bind-mounted into a container and still resolve there.

    <data-dir>/volumes/<ns>_<pod>_<uid>/<volume>/             one dir per volume
        ..2026_11_24_02_50_44.123456789_x1y2/key              the current files
        ..data -> ..2026_11_24_02_50_44.123456789_x1y2
        key -> ..data/key

All functions here are synchronous file-system work; the pod worker calls them
through `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from kubelet import layout
from kubelet.envvars import ConfigError, RefData
from kubelet.projected import downward_files, projected_files
from kubelet.runtime import Mount
from kubelite.api import Container, Pod
from kubelite.api.pods import KeyToPath, Volume

DATA_LINK = "..data"
DEFAULT_MODE = 0o644
Files = dict[str, tuple[bytes, int]]
"""Relative path -> (content, permission bits) of a projected volume."""


def pod_volumes_dir(data_dir: Path, pod: Pod) -> Path:
    m = pod.metadata
    return data_dir / "volumes" / layout.pod_key(m.namespace or "default", m.name or "", m.uid or "")


# -- projection (atomic writer) ------------------------------------------------------


def _check_path(rel: str) -> PurePosixPath:
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or ".." in path.parts or path.parts[0].startswith(".."):
        raise ConfigError(f"invalid projected file path {rel!r}: must be relative, without '..'")
    return path


def read_projection(target: Path) -> Files | None:
    """The files `target` currently shows through `..data` (None if never projected)."""
    data = target / DATA_LINK
    if not data.is_dir():
        return None
    out: Files = {}
    for root, _dirs, names in os.walk(data):
        for name in names:
            full = Path(root) / name
            st = full.lstat()
            out[str(full.relative_to(data))] = (full.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def project(target: Path, files: Mapping[str, tuple[bytes, int]]) -> bool:
    """Make `target` show exactly `files`, atomically. Returns False when it already did."""
    for rel in files:
        _check_path(rel)
    target.mkdir(parents=True, exist_ok=True)
    if read_projection(target) == dict(files):
        return False
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}_"
    new_dir = Path(tempfile.mkdtemp(prefix=".." + stamp, dir=target))
    new_dir.chmod(0o755)
    for rel, (content, mode) in files.items():
        path = new_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    old = os.readlink(target / DATA_LINK) if (target / DATA_LINK).is_symlink() else None
    tmp_link = target / (DATA_LINK + "_tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(new_dir.name)
    os.replace(tmp_link, target / DATA_LINK)  # the atomic switch
    top = {PurePosixPath(rel).parts[0] for rel in files}
    for name in top:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA_LINK}/{name}")
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in top and entry.is_symlink():
            entry.unlink()
    if old and old != new_dir.name:
        shutil.rmtree(target / old, ignore_errors=True)
    return True


# -- sources -----------------------------------------------------------------------


def _select(
    kind: str, name: str, data: Mapping[str, bytes] | None, items: list[KeyToPath],
    default_mode: int | None, optional: bool | None, ns: str,
) -> Files:
    mode = DEFAULT_MODE if default_mode is None else default_mode
    if data is None:
        if optional:
            return {}
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    out: Files = {}
    for item in items:
        if item.key not in data:
            if optional:
                continue
            raise ConfigError(f"couldn't find key {item.key} in {kind} {ns}/{name}")
        out[item.path] = (data[item.key], mode if item.mode is None else item.mode)
    return out


def desired_files(volume: Volume, refs: RefData, ns: str, pod: Pod) -> Files | None:
    """The files a configMap/secret/projected/downwardAPI volume must show (None for other kinds)."""
    if volume.projected is not None:
        return projected_files(volume.projected, refs, pod)
    if volume.downward_api is not None:
        mode = volume.downward_api.get("defaultMode")
        return downward_files(volume.downward_api.get("items") or [], pod,
                              mode if isinstance(mode, int) else DEFAULT_MODE)
    if volume.config_map is not None:
        cm = volume.config_map
        return _select("ConfigMap", cm.name or "", refs.config_maps.get(cm.name or ""), cm.items,
                       cm.default_mode, cm.optional, ns)
    if volume.secret is not None:
        sec = volume.secret
        return _select("Secret", sec.secret_name or "", refs.secrets.get(sec.secret_name or ""), sec.items,
                       sec.default_mode, sec.optional, ns)
    return None


_HOST_PATH_CHECKS = {
    "Directory": (stat.S_ISDIR, "a directory"),
    "File": (stat.S_ISREG, "a file"),
    "Socket": (stat.S_ISSOCK, "a socket"),
    "CharDevice": (stat.S_ISCHR, "a character device"),
    "BlockDevice": (stat.S_ISBLK, "a block device"),
}


def _host_path(path_text: str, type_: str) -> Path:
    path = Path(path_text)
    if not path.is_absolute():
        raise ConfigError(f"hostPath {path_text!r} must be absolute")
    if type_ == "DirectoryOrCreate":
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
        type_ = "Directory"
    elif type_ == "FileOrCreate":
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if not path.exists():
            path.touch(0o644)
        type_ = "File"
    if type_ in ("", None):
        return path
    check = _HOST_PATH_CHECKS.get(type_)
    if check is None:
        raise ConfigError(f"hostPath {path_text!r}: unknown type {type_!r}")
    try:
        mode = path.stat().st_mode
    except OSError:
        raise ConfigError(f"hostPath type check failed: {path_text} does not exist") from None
    if not check[0](mode):
        raise ConfigError(f"hostPath type check failed: {path_text} is not {check[1]}")
    return path


# -- the pod's volumes -----------------------------------------------------------------


def setup_volumes(data_dir: Path, pod: Pod, refs: RefData,
                  claims: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """Create/refresh every volume of the pod; volume name -> host path.

    `claims`: claim name -> directory of its bound PersistentVolume (resolved by
    `kubelet.localpath.claim_paths`, which also waits for binding).

    Raises ConfigError (CreateContainerConfigError) for a missing ConfigMap,
    Secret or key, a failed hostPath check or an unsupported volume type.
    """
    ns = pod.metadata.namespace or "default"
    base = pod_volumes_dir(data_dir, pod)
    paths: dict[str, Path] = {}
    for vol in pod.spec.volumes:
        if vol.host_path is not None:
            paths[vol.name] = _host_path(vol.host_path.path, vol.host_path.type or "")
            continue
        if vol.persistent_volume_claim is not None:
            claim = (claims or {}).get(vol.persistent_volume_claim.claim_name)
            if claim is None:
                raise ConfigError(f"volume {vol.name!r}: claim {vol.persistent_volume_claim.claim_name!r} "
                                  "is not resolved")
            paths[vol.name] = claim
            continue
        target = base / vol.name
        if vol.empty_dir is not None:
            if not target.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                target.chmod(0o777)  # any container user may write (as Kubernetes does)
                set_ownership(target, fs_group(pod), writable=True)
            paths[vol.name] = target
            continue
        files = desired_files(vol, refs, ns, pod)
        if files is None:
            kinds = [k for k, v in vol.to_dict().items() if k != "name" and v is not None]
            raise ConfigError(f"volume {vol.name!r}: {', '.join(kinds) or 'unknown'} volumes are not supported "
                              "(supported: emptyDir, hostPath, persistentVolumeClaim, configMap, secret, projected, "
                              "downwardAPI)")
        if project(target, files):
            set_ownership(target, fs_group(pod), writable=False)
        paths[vol.name] = target
    return paths


def refresh_projections(data_dir: Path, pod: Pod, refs: RefData) -> list[str]:
    """Re-project configMap/secret/projected volumes already set up (a new token, an edited ConfigMap);
    names of volumes that changed.
    Missing objects leave the old files in place (as Kubernetes does)."""
    ns = pod.metadata.namespace or "default"
    base = pod_volumes_dir(data_dir, pod)
    changed = []
    for vol in pod.spec.volumes:
        target = base / vol.name
        if not (target / DATA_LINK).exists():
            continue
        try:
            files = desired_files(vol, refs, ns, pod)
        except ConfigError:
            continue
        if files is not None and project(target, files):
            set_ownership(target, fs_group(pod), writable=False)
            changed.append(vol.name)
    return changed


def fs_group(pod: Pod) -> int | None:
    sc = pod.spec.security_context
    return sc.fs_group if sc is not None else None


def set_ownership(target: Path, group: int | None, writable: bool) -> None:
    """Kubernetes' SetVolumeOwnership for `fsGroup`: the volume's files belong to the group
    (readable, writable too for emptyDir), and directories are setgid so files the
    containers create there inherit the group. Symlinks (the projection's) are left alone."""
    if group is None:
        return
    file_bits = 0o660 if writable else 0o440
    for root, dirs, files in os.walk(target):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            os.lchown(path, -1, group)
            extra = file_bits | (0o2110 if stat.S_ISDIR(st.st_mode) else 0)
            os.chmod(path, stat.S_IMODE(st.st_mode) | extra)
    os.chown(target, -1, group)
    os.chmod(target, stat.S_IMODE(os.stat(target).st_mode) | file_bits | 0o2110)


def container_mounts(pod: Pod, container: Container, paths: Mapping[str, Path]) -> list[Mount]:
    """The container's volumeMounts as host-path bind mounts (subPath resolved)."""
    mounts = []
    read_only_claims = {v.name for v in pod.spec.volumes
                        if v.persistent_volume_claim is not None and v.persistent_volume_claim.read_only}
    for vm in container.volume_mounts:
        host = paths.get(vm.name)
        if host is None:
            raise ConfigError(f"container {container.name!r}: volumeMount {vm.name!r} names no volume of the pod")
        if vm.sub_path:
            sub = _check_path(vm.sub_path)
            host = host / sub
            if not host.exists():
                host.mkdir(parents=True, exist_ok=True)  # Kubernetes creates a missing subPath as a directory
        readonly = bool(vm.read_only) or vm.name in read_only_claims
        mounts.append(Mount(host_path=str(host), container_path=vm.mount_path, readonly=readonly))
    return mounts


def teardown_volumes(data_dir: Path, pod: Pod) -> None:
    """Remove the pod's emptyDir/configMap/secret directories (never hostPaths or claims' volumes)."""
    shutil.rmtree(pod_volumes_dir(data_dir, pod), ignore_errors=True)

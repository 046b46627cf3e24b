"""Where a node keeps pod files under `--data-dir` (one place, so the pod
workers that write logs and the Logs service that reads them agree).

    <data-dir>/pods/<ns>_<name>_<uid>/<container>/<restartCount>.log   CRI logs
    <data-dir>/sandboxes/<ns>_<name>_<uid>/                          default working dir

Names and namespaces are DNS labels/subdomains (no `_`), so the directory
name splits back unambiguously.
"""

from __future__ import annotations

import re
from pathlib import Path

_LOG_NAME = re.compile(r"^(\d+)\.log$")


def pod_key(namespace: str, name: str, uid: str) -> str:
    return f"{namespace}_{name}_{uid}"


def uid_of_pod_key(entry: str) -> str | None:
    """The uid in a `pod_key` directory name, or None for any other name.

    Why strict: the same parents hold directories that belong to no pod
    (`volumes/local-path/`, the claims' data); only a name of exactly three
    non-empty parts can be a pod's.
    """
    parts = entry.split("_")
    if len(parts) != 3 or not all(parts):
        return None
    return parts[2]


def pod_log_dir(data_dir: Path, namespace: str, name: str, uid: str) -> Path:
    return data_dir / "pods" / pod_key(namespace, name, uid)


def pod_work_dir(data_dir: Path, namespace: str, name: str, uid: str) -> Path:
    return data_dir / "sandboxes" / pod_key(namespace, name, uid)


def container_log_name(container: str, attempt: int) -> str:
    """Relative to the pod log directory (CRI ContainerConfig.log_path)."""
    return f"{container}/{attempt}.log"


def log_attempts(container_dir: Path) -> list[int]:
    """The attempts (restart counts) that have a log file, ascending."""
    try:
        names = [p.name for p in container_dir.iterdir()]
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := _LOG_NAME.match(n)))


def find_pod_log_dir(data_dir: Path, namespace: str, name: str, uid: str = "") -> Path | None:
    """The pod's log directory; without a uid, the newest pod of that name."""
    if uid:
        path = pod_log_dir(data_dir, namespace, name, uid)
        return path if path.is_dir() else None
    prefix = f"{namespace}_{name}_"
    candidates = [
        p for p in (data_dir / "pods").glob(prefix + "*") if p.is_dir() and "_" not in p.name[len(prefix):]
    ]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)

"""The kubeconfig `kubelite up` writes for real `kubectl` (and every client that reads kubeconfig files).

Why merge instead of write: a user's kubeconfig usually holds other clusters already. Like kind or
minikube, `up` adds one cluster, one user and one context -- all named after this cluster
(`kubelite`, or `kubelite-<offset>` beside the default one) -- replaces only entries of those names,
and makes the context current only when nothing is current or the current context already was this
cluster's; `down` removes exactly those entries again. The file is the first of `$KUBECONFIG`
(kubectl writes there too), else `~/.kube/config`; it embeds the admin's private key, so it is
written with mode 0600, atomically.

The merge and removal are pure functions over the parsed document (tested without files); the
file I/O is a thin layer around them.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubelite.pki.certs import cert_path, key_path

ENTRY_KEYS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


class KubeconfigError(Exception):
    """A kubeconfig file that cannot be read or merged; the message names the file and the problem."""


def context_name(port_offset: int) -> str:
    """The cluster's name (`localcluster.cluster_name`): `kubelite`, or `kubelite-<offset>` beside it."""
    from kubelite.localcluster import cluster_name

    return cluster_name(port_offset)


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """Where kubectl would write: the first file named in `$KUBECONFIG`, else `~/.kube/config`."""
    env = os.environ if env is None else env
    for item in env.get("KUBECONFIG", "").split(os.pathsep):
        if item.strip():
            return Path(item.strip()).expanduser()
    return Path.home() / ".kube" / "config"


@dataclass(frozen=True)
class Entry:
    """One cluster's kubeconfig entries: a cluster, its admin user and a context tying them together."""

    name: str  # the context's and the cluster's name
    server: str  # https://host:port
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def user(self) -> str:
        return f"{self.name}-admin"

    def entries(self) -> dict[str, dict[str, Any]]:
        """`{"clusters": {...}, "users": {...}, "contexts": {...}}`: the named entry for each list."""
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        return {
            "clusters": {"name": self.name, "cluster": {"server": self.server,
                                                        "certificate-authority-data": b64(self.ca_pem)}},
            "users": {"name": self.user, "user": {"client-certificate-data": b64(self.cert_pem),
                                                  "client-key-data": b64(self.key_pem)}},
            "contexts": {"name": self.name, "context": {"cluster": self.name, "user": self.user}},
        }

    def standalone(self) -> dict[str, Any]:
        """A complete kubeconfig with only this cluster (what `kubelite kubeconfig` prints)."""
        return merge(None, self)


def admin_entry(name: str, server: str, pki_dir: Path) -> Entry:
    """The entry for the cluster's admin (`kubernetes-admin` in `system:masters`) from the cluster PKI."""
    from kubelite.pki.cluster import ADMIN, CLUSTER_CA

    try:
        return Entry(name, server, cert_path(pki_dir, CLUSTER_CA).read_bytes(),
                     cert_path(pki_dir, ADMIN).read_bytes(), key_path(pki_dir, ADMIN).read_bytes())
    except OSError as exc:
        raise KubeconfigError(f"cannot read the cluster's admin credentials in {pki_dir}: "
                              f"{exc.strerror or exc}") from None


def _empty() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [],
            "contexts": [], "current-context": ""}


def _named_list(config: dict[str, Any], key: str) -> list[Any]:
    items = config.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise KubeconfigError(f"{key} must be a list, got {type(items).__name__}")
    return items


def merge(existing: Mapping[str, Any] | None, entry: Entry) -> dict[str, Any]:
    """`existing` with `entry`'s cluster, user and context added or replaced (same names), all others
    kept in order. The context becomes current only if none was, or it already was this one."""
    config = _empty()
    config.update(dict(existing or {}))
    current = config.get("current-context") or ""
    for key, item in entry.entries().items():
        items = [x for x in _named_list(config, key) if not (isinstance(x, dict) and x.get("name") == item["name"])]
        config[key] = [*items, item]
    if not current or current == entry.name:
        config["current-context"] = entry.name
    return config


def owns(config: Mapping[str, Any], name: str, server: str) -> bool:
    """Does the cluster entry `name` in `config` still point at `server` (so it is ours to remove)?"""
    for item in _named_list(dict(config), "clusters"):
        if isinstance(item, dict) and item.get("name") == name:
            cluster = item.get("cluster")
            return isinstance(cluster, dict) and cluster.get("server") == server
    return False


def remove(existing: Mapping[str, Any], name: str) -> dict[str, Any]:
    """`existing` without the cluster `name`, the user `name-admin` and the context `name`; a current
    context of that name is unset (as `kubectl config delete-context` leaves it)."""
    config = dict(existing)
    user = f"{name}-admin"
    for key, _ in ENTRY_KEYS:
        drop = user if key == "users" else name
        if key in config:
            config[key] = [x for x in _named_list(config, key) if not (isinstance(x, dict) and x.get("name") == drop)]
    if config.get("current-context") == name:
        config["current-context"] = ""
    return config


# --------------------------------------------------------------------- files

def load(path: Path) -> dict[str, Any] | None:
    """The parsed kubeconfig at `path`; None when there is no file (or it is empty)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KubeconfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise KubeconfigError(f"{path} is not a kubeconfig (a mapping at the top), got {type(data).__name__}")
    return data


def dump(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


def save(path: Path, config: Mapping[str, Any]) -> None:
    """Write atomically with mode 0600 (the file holds a private key); the directory is made 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.kubelite-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(dump(config))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_merged(path: Path, entry: Entry) -> bool:
    """Merge `entry` into the file at `path`; True when its context is the current one."""
    merged = merge(load(path), entry)
    save(path, merged)
    return bool(merged.get("current-context") == entry.name)


def remove_from(path: Path, name: str, server: str) -> bool:
    """Remove this cluster's entries from `path` if they still point at `server`; True if removed."""
    config = load(path)
    if config is None or not owns(config, name, server):
        return False
    left = remove(config, name)
    if not any(left.get(key) for key in ("clusters", "users", "contexts")):
        path.unlink(missing_ok=True)  # nothing of anyone's is left in it
    else:
        save(path, left)
    return True


# --------------------------------------------------------------------- `kubelite kubeconfig`

def main(argv: list[str] | None = None) -> int:
    """Print the running cluster's kubeconfig (standalone, one context) for a user to copy."""
    from kubelite.localcluster import default_data_dir, load_extra, pki_dir
    from kubelite.settings import ClusterSettings

    p = argparse.ArgumentParser(prog="kubelite kubeconfig",
                                description="print a kubeconfig for real kubectl with the admin's credentials")
    p.add_argument("--data-dir", type=Path, default=None, help="the cluster's data directory")
    args = p.parse_args(argv)
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    recorded = load_extra(data_dir).get("settings")
    if not isinstance(recorded, dict):
        print(f"error: no cluster in {data_dir}; start one with `kubelite up`", file=sys.stderr)
        return 1
    settings = ClusterSettings.from_dict(recorded)
    plan = settings.plan(data_dir)
    try:
        entry = admin_entry(context_name(settings.port_offset), plan.https_server, pki_dir(data_dir))
    except KubeconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(dump(entry.standalone()))
    return 0

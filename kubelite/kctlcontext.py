"""The context `kubelite up` adds to kctl's config file, and what `down` and `image load` read back.

Why merge instead of overwrite: a user running two clusters (`--port-offset`, `--net-id`) kept
losing the first one's kctl access when the second one came up. Like the kubectl context (see
`kubeconfig.py`), `up` adds one context named after the cluster (`localcluster.cluster_name`),
makes it current only when nothing is current or it already was, and says how to select it
otherwise; `down` removes exactly that context again (only while it still points at that cluster).
The context also records the cluster's data directory, so `kubelite image load` can find the
cluster (and its registry) of the current context without being told `--data-dir`.

The merge and removal are pure functions over the parsed document; file I/O is a thin layer.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from kubelite.client.tls import ClientTLS

DATA_DIR_KEY = "kubelite-data-dir"


class ContextError(Exception):
    """kctl's config file cannot be read or merged; the message names the file and the problem."""


def entry(server: str, tls: ClientTLS, data_dir: Path) -> dict[str, Any]:
    """One kctl context: where the apiserver is, how to trust it and prove who we are, and whose it is."""
    return {"server": server, "certificate-authority": tls.ca_file, "client-certificate": tls.cert_file,
            "client-key": tls.key_file, DATA_DIR_KEY: str(data_dir)}


def _contexts(config: dict[str, Any]) -> dict[str, Any]:
    contexts = config.get("contexts") or {}
    if not isinstance(contexts, dict):
        raise ContextError("`contexts` must be a mapping of NAME: {server: ...}")
    return contexts


def merge(existing: dict[str, Any] | None, name: str, context: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """`existing` with context `name` added or replaced; (new config, whether `name` is current).

    Top-level keys of an older single-cluster file (`server:` ...) would apply to every context, so a
    file that has them and no contexts is replaced rather than merged."""
    config = copy.deepcopy(existing or {})
    if "server" in config and not config.get("contexts"):
        config = {}
    contexts = _contexts(config)
    contexts[name] = context
    config["contexts"] = contexts
    current = str(config.get("current-context") or "")
    if not current or current == name or current not in contexts:
        config["current-context"] = name
    return config, config["current-context"] == name


def remove(existing: dict[str, Any], name: str, server: str) -> dict[str, Any] | None:
    """`existing` without context `name` if it still points at `server` (else None: not ours)."""
    config = copy.deepcopy(existing)
    contexts = _contexts(config)
    found = contexts.get(name)
    if not isinstance(found, dict) or found.get("server") != server:
        return None
    del contexts[name]
    if config.get("current-context") == name:
        config["current-context"] = ""
    return config


def data_dir_of(config: dict[str, Any], name: str | None) -> Path | None:
    """The data directory recorded in context `name` (default: the current one), if any."""
    chosen = name or str(config.get("current-context") or "")
    found = _contexts(config).get(chosen) if chosen else None
    recorded = found.get(DATA_DIR_KEY) if isinstance(found, dict) else None
    return Path(str(recorded)) if recorded else None


def read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) if path.exists() else {}
    except (OSError, yaml.YAMLError) as exc:
        raise ContextError(f"cannot read kctl config {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ContextError(f"kctl config {path} must be a mapping")
    return data


def save(path: Path, config: dict[str, Any]) -> None:
    """Atomically, mode 0600 (the context names the admin's private key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


def write_merged(path: Path, name: str, context: dict[str, Any]) -> bool:
    """Merge context `name` into the file at `path`; True when it is the current context."""
    config, current = merge(read(path), name, context)
    save(path, config)
    return current


def remove_from(path: Path, name: str, server: str) -> bool:
    """Take context `name` out of the file if it is still this cluster's; True when removed."""
    left = remove(read(path), name, server)
    if left is None:
        return False
    if not left.get("contexts"):
        path.unlink(missing_ok=True)
    else:
        save(path, left)
    return True

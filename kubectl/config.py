"""Where kctl finds the apiserver (and the default namespace).

Why an explicit resolution order: `kubelite up` writes a config file, tests and
scripts export `$KUBELITE_SERVER`, and a user may point at another cluster with
`--server`; the most specific source must win, always in the same order:
flag, environment, config file, built-in default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_SERVER = "127.0.0.1:6443"
DEFAULT_NAMESPACE = "default"


class ConfigError(Exception):
    """The config file exists but cannot be used; the message is shown to the user."""


@dataclass(frozen=True)
class ClientConfig:
    """What the config file may say. Missing keys are None."""

    server: str | None = None
    namespace: str | None = None
    token: str | None = None


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """`$KUBELITE_CONFIG` if set, else `~/.kubelite/config` (where `kubelite up` writes it)."""
    env = os.environ if env is None else env
    explicit = env.get("KUBELITE_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return Path.home() / ".kubelite" / "config"


def load_config(path: Path) -> ClientConfig:
    """Read the YAML config file; a missing file is an empty config, a broken one an error."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ClientConfig()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return ClientConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping like `server: 127.0.0.1:6443`")
    server = data.get("server")
    namespace = data.get("namespace")
    token = data.get("token")
    return ClientConfig(
        server=str(server) if server else None,
        namespace=str(namespace) if namespace else None,
        token=str(token) if token else None,
    )


def normalize_server(server: str) -> str:
    """Accept `host:port`, `grpc://host:port` or `http(s)://host:port/` and return `host:port`."""
    value = server.strip()
    for scheme in ("grpc://", "http://", "https://"):
        if value.startswith(scheme):
            value = value[len(scheme):]
            break
    return value.rstrip("/")


def resolve_server(flag: str | None, env: Mapping[str, str] | None = None,
                   config: ClientConfig | None = None) -> str:
    """The apiserver address: `--server`, then `$KUBELITE_SERVER`, then the config file, then the default."""
    env = os.environ if env is None else env
    if flag:
        return normalize_server(flag)
    from_env = env.get("KUBELITE_SERVER")
    if from_env:
        return normalize_server(from_env)
    if config is None:
        config = load_config(config_path(env))
    if config.server:
        return normalize_server(config.server)
    return DEFAULT_SERVER


def resolve_token(flag: str | None, env: Mapping[str, str] | None = None,
                  config: ClientConfig | None = None) -> str:
    """The bearer token: `--token`, then `$KUBELITE_TOKEN`, then the config file's `token:`, else none."""
    env = os.environ if env is None else env
    if flag:
        return flag
    if env.get("KUBELITE_TOKEN"):
        return env["KUBELITE_TOKEN"]
    return (config.token if config is not None else None) or ""


def resolve_namespace(flag: str | None, config: ClientConfig | None = None) -> str:
    """`-n` if given, else the config file's `namespace:`, else `default`."""
    if flag:
        return flag
    if config is not None and config.namespace:
        return config.namespace
    return DEFAULT_NAMESPACE

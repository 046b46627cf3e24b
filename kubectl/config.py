"""Where kctl finds the apiserver, how it proves who it is, and the default namespace.

Why an explicit resolution order: `kubelite up` writes a config file, tests and
scripts export `$KUBELITE_SERVER`, and a user may point at another cluster with
`--server`; the most specific source must win, always in the same order:
flag, environment, config file, built-in default.

The file is YAML. Keys at the top level apply to every context; a context
(`contexts: {NAME: {...}}` selected by `current-context:`) overrides them, the
way a kubeconfig ties a server to its CA and a user's client certificate::

    current-context: kubelite
    contexts:
      kubelite:
        server: 10.88.0.1:6443
        certificate-authority: /var/lib/kubelite/pki/ca.crt     # TLS; trust this CA
        client-certificate: /var/lib/kubelite/pki/admin.crt     # who kctl is
        client-key: /var/lib/kubelite/pki/admin.key

Relative file paths are relative to the config file's directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubelite.client.tls import ClientTLS

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
    certificate_authority: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None

    def tls(self) -> ClientTLS | None:
        """TLS settings when the config names a CA (None: plaintext)."""
        if not self.certificate_authority:
            return None
        return ClientTLS(self.certificate_authority, self.client_certificate, self.client_key)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """`$KUBELITE_CONFIG` if set, else `~/.kubelite/config` (where `kubelite up` writes it)."""
    env = os.environ if env is None else env
    explicit = env.get("KUBELITE_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return Path.home() / ".kubelite" / "config"


def load_config(path: Path, context: str | None = None) -> ClientConfig:
    """Read the YAML config file; a missing file is an empty config, a broken one an error.

    `context` (kctl's `--context`) picks a context other than the file's `current-context`."""
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
    merged = {k: v for k, v in data.items() if k not in ("contexts", "current-context")}
    current = context or data.get("current-context")
    if current:
        contexts = data.get("contexts") or {}
        chosen = contexts.get(current) if isinstance(contexts, dict) else None
        if not isinstance(chosen, dict):
            which = "context" if context else "current-context"
            raise ConfigError(f"config file {path}: {which} {current!r} is not in `contexts`")
        merged.update(chosen)

    def value_of(key: str) -> str | None:
        value = merged.get(key)
        return str(value) if value else None

    def file(key: str) -> str | None:
        value = value_of(key)
        return str(path.parent / Path(value).expanduser()) if value else None

    return ClientConfig(
        server=value_of("server"), namespace=value_of("namespace"),
        certificate_authority=file("certificate-authority"), client_certificate=file("client-certificate"),
        client_key=file("client-key"), token=value_of("token"),
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

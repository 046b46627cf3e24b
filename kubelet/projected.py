"""Projected and downwardAPI volumes: which files they show.

Why here and not in `volumes`: a projected volume merges several sources --
a ServiceAccount token, ConfigMap and Secret keys, downward API fields -- into
one directory (Kubernetes' `projected` volume, what ServiceAccount admission
adds to every pod as `kube-api-access-*`). The token comes from the kubelet's
token manager before the (synchronous) file work starts, in `RefData.tokens`
keyed by `token_key`; everything else is already in `RefData`.

The volume model keeps `projected` and `downwardAPI` as JSON dicts, so this
module reads them defensively and reports a malformed source as ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelet.envvars import ConfigError, RefData, field_ref_value
from kubelite.api import Pod

DEFAULT_MODE = 0o644
DEFAULT_TOKEN_SECONDS = 3600
MIN_TOKEN_SECONDS = 600
Files = dict[str, tuple[bytes, int]]


@dataclass(frozen=True)
class TokenSource:
    audience: str
    expiration_seconds: int
    path: str


def token_key(audience: str, seconds: int) -> str:
    return f"{audience}|{seconds}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sources(projected: Mapping[str, Any]) -> list[dict[str, Any]]:
    sources = projected.get("sources")
    return [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []


def token_sources(pod: Pod) -> list[TokenSource]:
    """The serviceAccountToken sources of all the pod's projected volumes."""
    out = []
    for vol in pod.spec.volumes:
        if vol.projected is None:
            continue
        for src in _sources(vol.projected):
            token = src.get("serviceAccountToken")
            if isinstance(token, dict):
                seconds = token.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS
                out.append(TokenSource(str(token.get("audience") or ""), int(seconds), str(token.get("path") or "")))
    return out


def _mode(item: Mapping[str, Any], default: int) -> int:
    mode = item.get("mode")
    return int(mode) if isinstance(mode, int) else default


def _keys(kind: str, src: Mapping[str, Any], data: Mapping[str, bytes] | None, mode: int, ns: str) -> Files:
    name = str(src.get("name") or "")
    if data is None:
        if src.get("optional"):
            return {}
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    items = [i for i in src.get("items") or [] if isinstance(i, dict)]
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    out: Files = {}
    for item in items:
        key, path = str(item.get("key") or ""), str(item.get("path") or "")
        if key not in data:
            if src.get("optional"):
                continue
            raise ConfigError(f"couldn't find key {key} in {kind} {ns}/{name}")
        out[path] = (data[key], _mode(item, mode))
    return out


def downward_files(items: list[Any], pod: Pod, mode: int) -> Files:
    """downwardAPI items: fieldRef values as files (resourceFieldRef is not supported)."""
    out: Files = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        path = str(item.get("path") or "")
        field_ref = _dict(item.get("fieldRef"))
        if not field_ref.get("fieldPath"):
            raise ConfigError(f"downwardAPI item {path!r}: only fieldRef is supported")
        value = field_ref_value(pod, str(field_ref["fieldPath"]), "")
        out[path] = (value.encode(), _mode(item, mode))
    return out


def projected_files(projected: Mapping[str, Any], refs: RefData, pod: Pod) -> Files:
    """What a projected volume shows: every source's files merged (later sources win a path)."""
    ns = pod.metadata.namespace or "default"
    default_mode = projected.get("defaultMode")
    mode = int(default_mode) if isinstance(default_mode, int) else DEFAULT_MODE
    out: Files = {}
    for src in _sources(projected):
        if "serviceAccountToken" in src:
            token = _dict(src["serviceAccountToken"])
            seconds = int(token.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS)
            key = token_key(str(token.get("audience") or ""), seconds)
            if key not in refs.tokens:
                raise ConfigError("service account token not available yet")
            out[str(token.get("path") or "token")] = (refs.tokens[key], mode)
        elif "configMap" in src:
            cm = _dict(src["configMap"])
            out.update(_keys("ConfigMap", cm, refs.config_maps.get(str(cm.get("name") or "")), mode, ns))
        elif "secret" in src:
            secret = _dict(src["secret"])
            out.update(_keys("Secret", secret, refs.secrets.get(str(secret.get("name") or "")), mode, ns))
        elif "downwardAPI" in src:
            out.update(downward_files(_dict(src["downwardAPI"]).get("items") or [], pod, mode))
        else:
            raise ConfigError(f"projected volume source {sorted(src)} is not supported")
    return out

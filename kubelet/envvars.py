"""Container environment and argv the way Kubernetes resolves them.

Why here and not in the runtime: these are Kubernetes semantics (downward API,
ConfigMap/Secret references, `$(VAR)` references, command vs args) that must
behave identically for every runtime; the runtime only receives the resolved
strings (like CRI). ConfigMaps and Secrets are fetched by the pod worker
beforehand (`referenced_objects` says which) and handed in as `RefData`, so
resolution itself stays pure and testable.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kubelite.api import ConfigMap, Container, Pod, Secret
from kubelite.api.container import EnvVarSource
from kubelite.api.quantity import cpu_millis, memory_bytes, parse_quantity


class ConfigError(Exception):
    """The container's configuration cannot be resolved (CreateContainerConfigError)."""

    reason = "CreateContainerConfigError"


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes `$(VAR)` expansion.

    `$(NAME)` becomes the variable's value when it is defined and stays as
    written when it is not; `$$` is an escaped `$` (so `$$(X)` yields the literal
    `$(X)`); a `$` that starts nothing stays as it is.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 == n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            value = lookup(name)
            out.append(value if value is not None else f"$({name})")
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


def field_ref_value(pod: Pod, path: str, node_ip: str, pod_ip: str = "") -> str:
    """The downward API value of `fieldRef.fieldPath` for this pod.

    `pod_ip` is the sandbox's IP; without one (process runtime, host network)
    the pod lives on the node's address."""
    meta, spec = pod.metadata, pod.spec
    pod_ip = pod_ip or pod.status.pod_ip or node_ip
    simple: dict[str, str | None] = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace or "default",
        "metadata.uid": meta.uid,
        "spec.nodeName": spec.node_name,
        "spec.serviceAccountName": spec.service_account_name or spec.service_account or "default",
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": pod.status.host_ip or node_ip,
        "status.hostIPs": pod.status.host_ip or node_ip,
    }
    if path in simple:
        return simple[path] or ""
    match = _SUBSCRIPT.match(path)
    if match:
        source = meta.labels if match.group(1) == "labels" else meta.annotations
        return source.get(match.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        source = meta.labels if path == "metadata.labels" else meta.annotations
        return "\n".join(f'{k}="{v}"' for k, v in sorted(source.items()))
    raise ConfigError(f"unsupported fieldRef.fieldPath {path!r}")


@dataclass(frozen=True)
class RefData:
    """The ConfigMaps and Secrets of the pod's namespace that it refers to, as
    name -> key -> bytes. A name that is absent was not found. `tokens`: the pod's
    ServiceAccount tokens for its projected volumes (`projected.token_key` -> token)."""

    config_maps: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)
    tokens: Mapping[str, bytes] = field(default_factory=dict)


def config_map_data(cm: ConfigMap) -> dict[str, bytes]:
    out = {k: v.encode() for k, v in cm.data.items()}
    for k, v in cm.binary_data.items():
        out[k] = _b64(v)
    return out


def secret_data(secret: Secret) -> dict[str, bytes]:
    out = {k: _b64(v) for k, v in secret.data.items()}
    for k, v in secret.string_data.items():  # normally folded into data by the apiserver
        out.setdefault(k, v.encode())
    return out


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode()


def referenced_objects(pod: Pod) -> tuple[set[str], set[str]]:
    """(ConfigMap names, Secret names) the pod's env, envFrom and volumes (projected ones too) use."""
    cms: set[str] = set()
    secrets: set[str] = set()
    for c in [*pod.spec.init_containers, *pod.spec.containers]:
        for src in c.env_from:
            if src.config_map_ref is not None and src.config_map_ref.name:
                cms.add(src.config_map_ref.name)
            if src.secret_ref is not None and src.secret_ref.name:
                secrets.add(src.secret_ref.name)
        for var in c.env:
            vf = var.value_from
            if vf is not None and vf.config_map_key_ref is not None and vf.config_map_key_ref.name:
                cms.add(vf.config_map_key_ref.name)
            if vf is not None and vf.secret_key_ref is not None and vf.secret_key_ref.name:
                secrets.add(vf.secret_key_ref.name)
    for vol in pod.spec.volumes:
        if vol.config_map is not None and vol.config_map.name:
            cms.add(vol.config_map.name)
        if vol.secret is not None and vol.secret.secret_name:
            secrets.add(vol.secret.secret_name)
        sources = (vol.projected or {}).get("sources")
        for src in sources if isinstance(sources, list) else []:
            for kind, names in (("configMap", cms), ("secret", secrets)):
                ref = src.get(kind) if isinstance(src, dict) else None
                if isinstance(ref, dict) and isinstance(ref.get("name"), str) and ref["name"]:
                    names.add(ref["name"])
    return cms, secrets


_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _key_ref(
    refs: RefData, kind: str, name: str | None, key: str, optional: bool | None, ns: str
) -> str | None:
    source = refs.config_maps if kind == "ConfigMap" else refs.secrets
    data = source.get(name or "")
    if data is None:
        if optional:
            return None
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    if key not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {ns}/{name}")
    return data[key].decode(errors="replace")


def _host_capacity(resource: str) -> int:
    """What a container without a limit may use: the node's capacity (like Kubernetes'
    node allocatable fallback)."""
    if resource == "cpu":
        return (os.cpu_count() or 1) * 1000
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def resource_field_value(pod: Pod, container: Container, resource: str, divisor: str | None) -> str:
    """The downward API value of `resourceFieldRef` (limits.cpu, requests.memory, ...)."""
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise ConfigError(f"unsupported resourceFieldRef.resource {resource!r}")
    values = container.resources.limits if kind == "limits" else container.resources.requests
    raw = values.get(name)
    if raw is None and kind == "requests":
        raw = container.resources.limits.get(name)  # a request defaults to the limit
    if name == "cpu":
        have = cpu_millis(raw) if raw is not None else (0 if kind == "requests" else _host_capacity("cpu"))
        unit = cpu_millis(divisor) if divisor else 1000
        return str(math.ceil(have / unit)) if unit else "0"
    have = memory_bytes(raw) if raw is not None else (0 if kind == "requests" else _host_capacity("memory"))
    unit_d = parse_quantity(divisor) if divisor else 1
    return str(math.ceil(have / unit_d)) if unit_d else "0"


POD_IP_FIELDS = frozenset({"status.podIP", "status.podIPs"})


def uses_pod_ip(container: Container) -> bool:
    """Whether the container's env takes the pod IP (downward API): such a container is
    created only once the pod's network is attached; the others while it is being attached."""
    return any(var.value_from is not None and var.value_from.field_ref is not None
               and var.value_from.field_ref.field_path in POD_IP_FIELDS for var in container.env)


def container_env(
    pod: Pod, container: Container, node_ip: str, refs: RefData | None = None, pod_ip: str = ""
) -> dict[str, str]:
    """envFrom first, then `env` in order; each `env` value may reference variables
    defined before it. A missing ConfigMap/Secret/key that is not optional is a
    ConfigError (CreateContainerConfigError)."""
    refs = refs or RefData()
    ns = pod.metadata.namespace or "default"
    env: dict[str, str] = {}
    for src in container.env_from:
        prefix = src.prefix or ""
        if src.config_map_ref is not None:
            kind, name, optional = "ConfigMap", src.config_map_ref.name, src.config_map_ref.optional
            data = refs.config_maps.get(name or "")
        elif src.secret_ref is not None:
            kind, name, optional = "Secret", src.secret_ref.name, src.secret_ref.optional
            data = refs.secrets.get(name or "")
        else:
            continue
        if data is None:
            if optional:
                continue
            raise ConfigError(f'{kind.lower()} "{name}" not found')
        for key in sorted(data):
            if _ENV_NAME.match(prefix + key):  # Kubernetes skips keys that are not valid names
                env[prefix + key] = data[key].decode(errors="replace")
    for var in container.env:
        source = var.value_from
        try:
            value = _env_value(pod, container, var.value or "", source, env, refs, node_ip, pod_ip, ns)
        except ConfigError as exc:
            raise ConfigError(f"container {container.name!r}: env {var.name!r}: {exc}") from None
        if value is not None:
            env[var.name] = value
    return env


def _env_value(
    pod: Pod, container: Container, literal: str, source: EnvVarSource | None, env: dict[str, str],
    refs: RefData, node_ip: str, pod_ip: str, ns: str,
) -> str | None:
    if source is None:
        return expand(literal, env.get)
    if source.field_ref is not None:
        return field_ref_value(pod, source.field_ref.field_path, node_ip, pod_ip)
    if source.config_map_key_ref is not None:
        r = source.config_map_key_ref
        return _key_ref(refs, "ConfigMap", r.name, r.key, r.optional, ns)
    if source.secret_key_ref is not None:
        s = source.secret_key_ref
        return _key_ref(refs, "Secret", s.name, s.key, s.optional, ns)
    if source.resource_field_ref is not None:
        rf = source.resource_field_ref
        target = container
        if rf.container_name and rf.container_name != container.name:
            found = next((c for c in [*pod.spec.init_containers, *pod.spec.containers]
                          if c.name == rf.container_name), None)
            if found is None:
                raise ConfigError(f"resourceFieldRef: no container named {rf.container_name!r}")
            target = found
        return resource_field_value(pod, target, rf.resource, rf.divisor)
    raise ConfigError("valueFrom names no source")


def expand_command(container: Container, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(command, args) with `$(VAR)` references to the container's env expanded."""
    return ([expand(part, env.get) for part in container.command],
            [expand(part, env.get) for part in container.args])


def container_argv(container: Container, env: Mapping[str, str]) -> list[str]:
    """command + args, expanded: what a runtime without image config runs."""
    command, args = expand_command(container, env)
    return [*command, *args]

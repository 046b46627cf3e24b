"""Container environment and argv the way Kubernetes resolves them.

Why here and not in the runtime: these are Kubernetes semantics (downward API,
`$(VAR)` references, command vs args) that must behave identically for every
runtime; the runtime only receives the resolved strings (like CRI).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from api import Container, Pod


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


def field_ref_value(pod: Pod, path: str, node_ip: str) -> str:
    """The downward API value of `fieldRef.fieldPath` for this pod."""
    meta, spec = pod.metadata, pod.spec
    simple: dict[str, str | None] = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace or "default",
        "metadata.uid": meta.uid,
        "spec.nodeName": spec.node_name,
        "spec.serviceAccountName": spec.service_account_name or spec.service_account or "default",
        # The process runtime has no pod network: the pod lives on the node's address.
        "status.podIP": pod.status.pod_ip or node_ip,
        "status.podIPs": pod.status.pod_ip or node_ip,
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


def container_env(pod: Pod, container: Container, node_ip: str) -> dict[str, str]:
    """Resolve `env` in order; each value may reference variables defined before it."""
    if container.env_from:
        raise ConfigError(f"container {container.name!r}: envFrom is not supported yet")
    env: dict[str, str] = {}
    for var in container.env:
        source = var.value_from
        if source is None:
            env[var.name] = expand(var.value or "", env.get)
        elif source.field_ref is not None:
            env[var.name] = field_ref_value(pod, source.field_ref.field_path, node_ip)
        else:
            kind = next(
                (k for k in ("configMapKeyRef", "secretKeyRef", "resourceFieldRef")
                 if source.to_dict().get(k) is not None),
                "valueFrom",
            )
            raise ConfigError(f"container {container.name!r}: env {var.name!r}: {kind} is not supported yet")
    return env


def container_argv(container: Container, env: Mapping[str, str]) -> list[str]:
    """command + args with `$(VAR)` references to the container's env expanded.

    Kubernetes: `command` replaces the image ENTRYPOINT and `args` its CMD. The
    process runtime has no image config, so a container without `command`
    runs its `args` alone.
    """
    return [expand(part, env.get) for part in (*container.command, *container.args)]

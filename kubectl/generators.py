"""Objects that `create KIND`, `run` and `expose` build from flags (pure; no I/O but reading files).

Why in one module: kubectl's generators share conventions -- the container is named after the
image, labels are `app=NAME` (create deployment) or `run=NAME` (run), key sources are
`--from-literal`, `--from-file=[KEY=]FILE|DIR` and `--from-env-file` -- and `create`,
`run`, `expose` and `apply -k`'s generators must build the same shapes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from kubectl.errors import CliError

Obj = dict[str, Any]


def container_name(image: str) -> str:
    """`registry:5000/team/nginx:1.27@sha256:..` -> `nginx`, as kubectl names generated containers."""
    base = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    return base.lower().replace("_", "-").replace(".", "-") or "container"


def parse_env_lines(text: str, source: str) -> dict[str, str]:
    """`KEY=VALUE` lines (comments and blank lines skipped), as `--from-env-file` reads them."""
    data: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{source}:{number}: expected KEY=VALUE, got {raw!r}")
        data[key.strip()] = value
    return data


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None


def key_sources(literals: list[str], files: list[str], env_files: list[str]) -> dict[str, bytes]:
    """The keys and raw values from every source; a duplicate key is an error, as in kubectl."""
    data: dict[str, bytes] = {}

    def put(key: str, value: bytes) -> None:
        if key in data:
            raise CliError(f'cannot add key "{key}", another key by that name already exists')
        data[key] = value

    for item in literals:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"invalid literal source {item!r}, expected key=value")
        put(key, value.encode())
    for item in files:
        key, sep, path_text = item.partition("=")
        if not sep:
            key, path_text = "", item
        path = Path(path_text).expanduser()
        if path.is_dir():
            if key:
                raise CliError(f"cannot give a key for a directory source: {item!r}")
            for child in sorted(path.iterdir()):
                if child.is_file():
                    put(child.name, _read(child))
            continue
        put(key or path.name, _read(path))
    for env_file in env_files:
        text = _read(Path(env_file)).decode(errors="replace")
        for key, value in parse_env_lines(text, env_file).items():
            put(key, value.encode())
    return data


def configmap(name: str, namespace: str, sources: dict[str, bytes]) -> Obj:
    """Text values go to `data`, anything not UTF-8 to `binaryData` (base64)."""
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for key, raw in sources.items():
        try:
            data[key] = raw.decode()
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(raw).decode()
    obj: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                "data": data}
    if binary:
        obj["binaryData"] = binary
    return obj


def secret(name: str, namespace: str, sources: dict[str, bytes], secret_type: str = "Opaque") -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "type": secret_type,
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v).decode() for k, v in sources.items()}}


def tls_secret(name: str, namespace: str, cert_path: str, key_path: str) -> Obj:
    if not cert_path or not key_path:
        raise CliError("both --cert and --key are required for a tls secret")
    return secret(name, namespace, {"tls.crt": _read(Path(cert_path)), "tls.key": _read(Path(key_path))},
                  "kubernetes.io/tls")


def docker_registry_secret(name: str, namespace: str, server: str, username: str, password: str,
                           email: str) -> Obj:
    """A `.dockerconfigjson` secret whose `auths` entry carries base64(user:password) as `auth`."""
    if not username or not password:
        raise CliError("--docker-username and --docker-password are required for a docker-registry secret")
    entry = {"username": username, "password": password,
             "auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    if email:
        entry["email"] = email
    config = json.dumps({"auths": {server: entry}}, separators=(",", ":")).encode()
    return secret(name, namespace, {".dockerconfigjson": config}, "kubernetes.io/dockerconfigjson")


def deployment(name: str, namespace: str, image: str, replicas: int = 1, port: int = 0,
               command: list[str] | None = None) -> Obj:
    labels = {"app": name}
    container: Obj = {"name": container_name(image), "image": image}
    if command:
        container["command"] = list(command)
    if port:
        container["ports"] = [{"containerPort": port}]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}


def key_values(items: list[str], flag: str) -> dict[str, str]:
    """`--env A=1 --env B=2` or `-l a=b,c=d` -> a dict; a malformed item names the flag."""
    out: dict[str, str] = {}
    for item in items:
        for part in item.split(",") if flag in ("--labels", "-l") else [item]:
            key, sep, value = part.partition("=")
            if not sep or not key:
                raise CliError(f"invalid {flag} {part!r}: expected KEY=VALUE")
            out[key] = value
    return out


def pod(name: str, namespace: str, image: str, *, restart: str = "Always", port: int = 0,
        env: dict[str, str] | None = None, labels: dict[str, str] | None = None,
        args: list[str] | None = None, command: bool = False) -> Obj:
    """`kctl run`: one pod; words after `--` are its args, or its command with `--command`."""
    container: Obj = {"name": name, "image": image}
    if args:
        container["command" if command else "args"] = list(args)
    if port:
        container["ports"] = [{"containerPort": port}]
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {"run": name}},
            "spec": {"restartPolicy": restart, "containers": [container]}}


def service(name: str, namespace: str, selector: dict[str, str], port: int, target_port: str,
            service_type: str, protocol: str, labels: dict[str, str]) -> Obj:
    target: int | str = int(target_port) if target_port.isdigit() else (target_port or port)
    spec: Obj = {"selector": selector, "ports": [{"port": port, "protocol": protocol, "targetPort": target}]}
    if service_type:
        spec["type"] = service_type
    meta: Obj = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}

"""What `kctl port-forward` forwards: port specs parsed and mapped onto the pod's container ports.

Why pure and apart from the command: the grammar (`8080`, `8080:80`, `:80`, `0:80`, named
ports) and the Service mapping (service port -> targetPort, a named targetPort -> the pod's
container port of that name) are kubectl's rules, testable without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl.errors import CliError
from kubectl.printers import as_dict, as_list, dig
from kubectl.session import Obj


@dataclass(frozen=True)
class PortSpec:
    """One `[LOCAL:]REMOTE` argument; `local` None = same as the remote port, 0 = pick a free one."""

    local: int | None
    remote: str


@dataclass(frozen=True)
class Forward:
    """A local port (0 = pick a free one) forwarded to a container port of the pod."""

    local: int
    remote: int


def _port_number(text: str, what: str, allow_zero: bool = False) -> int:
    try:
        port = int(text)
    except ValueError:
        raise CliError(f"invalid {what} port {text!r}: not a number") from None
    if not (0 if allow_zero else 1) <= port < 65536:
        raise CliError(f"invalid {what} port {port}: must be between {0 if allow_zero else 1} and 65535")
    return port


def parse_specs(specs: list[str]) -> list[PortSpec]:
    """`[LOCAL:]REMOTE` arguments; REMOTE may be a port name (resolved against the pod or Service)."""
    if not specs:
        raise CliError("at least 1 PORT is required for port-forward")
    out: list[PortSpec] = []
    for spec in specs:
        local_text, sep, remote = spec.rpartition(":")
        if not remote or spec.count(":") > 1:
            raise CliError(f"invalid port specification {spec!r}: expected [LOCAL_PORT:]REMOTE_PORT")
        if not remote.isdigit() and not remote.replace("-", "").isalnum():
            raise CliError(f"invalid remote port {remote!r} in {spec!r}: a number or a port name")
        if remote.isdigit():
            _port_number(remote, "remote")
        local = None if not sep else (0 if local_text == "" else _port_number(local_text, "local", allow_zero=True))
        out.append(PortSpec(local, remote))
    return out


def _container_port(pod: Obj, name: str) -> int:
    for container in as_list(dig(pod, "spec", "containers")):
        for port in as_list(as_dict(container).get("ports")):
            if as_dict(port).get("name") == name:
                return int(as_dict(port).get("containerPort") or 0)
    raise CliError(f"Pod '{dig(pod, 'metadata', 'name')}' does not have a named port '{name}'")


def pod_forwards(pod: Obj, specs: list[PortSpec]) -> list[Forward]:
    """Forwards straight to the pod's ports (a name is one of its containers' named ports)."""
    out = []
    for spec in specs:
        remote = int(spec.remote) if spec.remote.isdigit() else _container_port(pod, spec.remote)
        out.append(Forward(remote if spec.local is None else spec.local, remote))
    return out


def service_forwards(service: Obj, pod: Obj, specs: list[PortSpec]) -> list[Forward]:
    """Forwards given as Service ports: each goes to the targetPort in `pod` (by number or name);
    without a local port, the local port is the Service port, as kubectl does."""
    name = dig(service, "metadata", "name")
    ports = [as_dict(p) for p in as_list(dig(service, "spec", "ports"))]
    out = []
    for spec in specs:
        match = next((p for p in ports if str(p.get("port")) == spec.remote or p.get("name") == spec.remote), None)
        if match is None:
            raise CliError(f"Service {name} does not have a service port {spec.remote}")
        service_port = int(match.get("port") or 0)
        target = match.get("targetPort")
        if target in (None, "", 0):
            remote = service_port
        elif isinstance(target, int) or str(target).isdigit():
            remote = int(target)
        else:
            remote = _container_port(pod, str(target))
        out.append(Forward(service_port if spec.local is None else spec.local, remote))
    return out


def listen_hosts(addresses: list[str]) -> list[str]:
    """`--address` values as hosts to bind; `localhost` is both 127.0.0.1 and ::1, like kubectl."""
    hosts: list[str] = []
    for value in addresses:
        for text in value.split(","):
            text = text.strip()
            if not text:
                continue
            for host in (["127.0.0.1", "::1"] if text == "localhost" else [text]):
                if host not in hosts:
                    hosts.append(host)
    if not hosts:
        raise CliError("--address needs at least one address (e.g. localhost, 0.0.0.0)")
    return hosts


def shown(host: str) -> str:
    """A host as kubectl prints it in `Forwarding from HOST:PORT` (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host

"""Pod spec -> runtime configs: the sandbox (hostname, DNS, hostPorts) and each
container (command/args, env, mounts, resources, security).

Why apart from the pod worker: these are pure translations of Kubernetes
fields into CRI-shaped values; keeping them free of I/O keeps the worker about
*when* to do things and makes every translation testable with plain values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kubelet import layout
from kubelet.envvars import ConfigError
from kubelet.runtime import (
    ContainerConfig,
    DnsConfig,
    Mount,
    PodSandboxConfig,
    PortMapping,
    Resources,
    Security,
)
from kubelite.api import Container, Pod
from kubelite.api.quantity import cpu_millis, memory_bytes

DnsHook = Callable[[Pod], DnsConfig | None]
"""The pod's resolv.conf; None = the node's own. Cluster DNS plugs in here later."""


def default_dns(pod: Pod) -> DnsConfig | None:
    """Without cluster DNS: `dnsConfig` when the pod sets one (dnsPolicy None or any
    policy plus extras), else the node's resolv.conf."""
    cfg = pod.spec.dns_config
    if cfg is None:
        return None
    options = [f"{o.name}:{o.value}" if o.value else (o.name or "") for o in cfg.options]
    return DnsConfig(servers=list(cfg.nameservers), searches=list(cfg.searches), options=[o for o in options if o])


def cluster_dns(servers: list[str], domain: str = "cluster.local") -> DnsHook:
    """resolv.conf like the kubelet writes it with cluster DNS: for dnsPolicy ClusterFirst (the
    default; ClusterFirstWithHostNet for host-network pods) the cluster DNS server and the search
    path `<ns>.svc.<domain> svc.<domain> <domain>` with ndots:5, so `wget http://web` works from
    a pod in the same namespace; the pod's dnsConfig is merged in after."""

    def hook(pod: Pod) -> DnsConfig | None:
        policy = pod.spec.dns_policy or "ClusterFirst"
        host_net = bool(pod.spec.host_network)
        if policy == "None" or not servers or policy == "Default" \
                or (host_net and policy != "ClusterFirstWithHostNet"):
            return default_dns(pod)
        ns = pod.metadata.namespace or "default"
        extra = default_dns(pod)
        searches = [f"{ns}.svc.{domain}", f"svc.{domain}", domain]
        options = ["ndots:5"]
        if extra is not None:
            searches += [x for x in extra.searches if x not in searches]
            options = [o for o in options if o.split(":")[0] not in {e.split(":")[0] for e in extra.options}]
            options += extra.options
        return DnsConfig(servers=list(servers) + (extra.servers if extra else []), searches=searches,
                         options=options)

    return hook


def port_mappings(pod: Pod) -> list[PortMapping]:
    """Every `hostPort` of the pod's containers (portmap CNI plugin / host network)."""
    out = []
    for c in [*pod.spec.init_containers, *pod.spec.containers]:
        for p in c.ports:
            if p.host_port:
                out.append(PortMapping(container_port=p.container_port, host_port=p.host_port,
                                       protocol=(p.protocol or "TCP").upper(), host_ip=p.host_ip or ""))
    return out


def sandbox_config(pod: Pod, data_dir: Path, dns: DnsHook = default_dns) -> PodSandboxConfig:
    m = pod.metadata
    ns, name, uid = m.namespace or "default", m.name or "", m.uid or ""
    return PodSandboxConfig(
        name=name, namespace=ns, uid=uid,
        log_directory=layout.pod_log_dir(data_dir, ns, name, uid),
        work_directory=layout.pod_work_dir(data_dir, ns, name, uid),
        hostname=pod.spec.hostname or name,
        dns=dns(pod),
        port_mappings=port_mappings(pod),
        host_network=bool(pod.spec.host_network),
    )


def resources(container: Container) -> Resources:
    """limits.cpu / limits.memory (cgroup limits) and requests.cpu (shares)."""
    lim, req = container.resources.limits, container.resources.requests
    try:
        cpu_limit = cpu_millis(lim["cpu"]) if "cpu" in lim else None
        mem_limit = memory_bytes(lim["memory"]) if "memory" in lim else None
        cpu_req = cpu_millis(req["cpu"]) if "cpu" in req else (cpu_limit or 0)
    except (ValueError, ArithmeticError) as exc:
        raise ConfigError(f"container {container.name!r}: bad resource quantity: {exc}") from None
    return Resources(cpu_millis_limit=cpu_limit, memory_limit_bytes=mem_limit, cpu_millis_request=cpu_req)


def security(pod: Pod, container: Container) -> Security:
    """Container securityContext over the pod's (the container's value wins)."""
    psc, csc = pod.spec.security_context, container.security_context
    user = csc.run_as_user if csc is not None and csc.run_as_user is not None else (psc.run_as_user if psc else None)
    group = (csc.run_as_group if csc is not None and csc.run_as_group is not None
             else (psc.run_as_group if psc else None))
    non_root = (csc.run_as_non_root if csc is not None and csc.run_as_non_root is not None
                else (psc.run_as_non_root if psc else None))
    if non_root and user == 0:
        raise ConfigError(f"container {container.name!r}: runAsNonRoot is set but runAsUser is 0 (root)")
    return Security(
        run_as_user=user, run_as_group=group,
        read_only_root_fs=bool(csc.read_only_root_filesystem) if csc else False,
        privileged=bool(csc.privileged) if csc else False,
    )


def container_config(
    pod: Pod, container: Container, image: str, env: dict[str, str], command: list[str], args: list[str],
    mounts: list[Mount], attempt: int,
) -> ContainerConfig:
    return ContainerConfig(
        name=container.name, image=image, command=command, args=args, env=env,
        working_dir=container.working_dir or "", log_path=layout.container_log_name(container.name, attempt),
        attempt=attempt, mounts=mounts, resources=resources(container), security=security(pod, container),
    )

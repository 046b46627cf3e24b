"""Pod spec -> runtime configs: the sandbox (hostname, DNS, hostPorts) and each
container (command/args, env, mounts, resources, security).

Why apart from the pod worker: these are pure translations of Kubernetes
fields into CRI-shaped values; keeping them free of I/O keeps the worker about
*when* to do things and makes every translation testable with plain values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
        host_aliases=[(a.ip, list(a.hostnames)) for a in pod.spec.host_aliases],
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


def pod_ref(pod: Pod) -> str:
    """Kubernetes' format.Pod: `name_namespace(uid)`, as kubelet messages name a pod."""
    m = pod.metadata
    return f"{m.name or ''}_{m.namespace or 'default'}({m.uid or ''})"


def security(pod: Pod, container: Container) -> Security:
    """The effective securityContext (Kubernetes' DetermineEffectiveSecurityContext): the
    container's runAsUser/runAsGroup/runAsNonRoot/seccompProfile win over the pod's;
    capabilities, privileged, readOnlyRootFilesystem and allowPrivilegeEscalation are
    container-only; supplementalGroups and fsGroup (added to the groups, as the kubelet
    does) are pod-only."""
    psc, csc = pod.spec.security_context, container.security_context

    def pick(name: str) -> Any:
        value = getattr(csc, name) if csc is not None else None
        return value if value is not None else (getattr(psc, name) if psc is not None else None)

    user, group, non_root = pick("run_as_user"), pick("run_as_group"), pick("run_as_non_root")
    if non_root and user == 0:
        raise ConfigError(f"container's runAsUser breaks non-root policy (pod: {json.dumps(pod_ref(pod))}, "
                          f"container: {container.name})")
    groups = list(psc.supplemental_groups) if psc is not None else []
    if psc is not None and psc.fs_group is not None and psc.fs_group not in groups:
        groups.append(psc.fs_group)
    seccomp = pick("seccomp_profile")
    caps = csc.capabilities if csc is not None else None
    return Security(
        run_as_user=user, run_as_group=group, run_as_non_root=bool(non_root), supplemental_groups=groups,
        read_only_root_fs=bool(csc.read_only_root_filesystem) if csc else False,
        privileged=bool(csc.privileged) if csc else False,
        allow_privilege_escalation=csc.allow_privilege_escalation if csc else None,
        cap_add=list(caps.add) if caps else [], cap_drop=list(caps.drop) if caps else [],
        seccomp=seccomp.type if seccomp is not None else "RuntimeDefault",
        seccomp_localhost=(seccomp.localhost_profile or "") if seccomp is not None else "",
        host_pid=bool(pod.spec.host_pid), host_ipc=bool(pod.spec.host_ipc),
    )


def container_config(
    pod: Pod, container: Container, image: str, env: dict[str, str], command: list[str], args: list[str],
    mounts: list[Mount], attempt: int,
) -> ContainerConfig:
    return ContainerConfig(
        name=container.name, image=image, command=command, args=args, env=env,
        working_dir=container.working_dir or "", log_path=layout.container_log_name(container.name, attempt),
        attempt=attempt, mounts=mounts, resources=resources(container), security=security(pod, container),
        pod_ref=pod_ref(pod),
    )

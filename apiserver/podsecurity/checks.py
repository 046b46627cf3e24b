"""The Pod Security Standards checks (baseline and restricted), as pure functions of a pod.

Why pure and keyed like Kubernetes: the admission decision, its Forbidden
message and the unit tests all come from one table; each check has Kubernetes'
check id (results are ordered by it, as the upstream admission orders them),
the level it belongs to, and returns Kubernetes' (reason, detail) wording, so a
user's tooling that matches `violates PodSecurity "restricted:latest": ...`
works unchanged. Checks for fields kubelite already rejects at validation
(SELinux, Windows, Unmasked procMount, sysctls) are kept so the policy stays
complete if those fields ever become supported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from kubelite.api.container import Container, SecurityContext
from kubelite.api.pods import PodSpec

LEVELS = ("privileged", "baseline", "restricted")

BASELINE_CAPS = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                           "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
RESTRICTED_VOLUME_TYPES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                     "persistentVolumeClaim", "projected", "secret"})
SAFE_SYSCTLS = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                          "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
                          "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
                          "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                          "net.ipv4.tcp_keepalive_probes"})


@dataclass(frozen=True)
class Violation:
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


def _quote(items: list[str]) -> str:
    return ", ".join(json.dumps(i) for i in items)


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def _containers(names: list[str]) -> str:
    return f"{_plural('container', 'containers', len(names))} {_quote(names)}"


def _all(spec: PodSpec) -> list[Container]:
    return spec.all_containers()


def _sc(c: Container) -> SecurityContext:
    return c.security_context or SecurityContext()


def _cap(name: str) -> str:
    return name.upper().removeprefix("CAP_")


# -- baseline ------------------------------------------------------------------------------


def host_namespaces(spec: PodSpec) -> Violation | None:
    on = [f"{n}=true" for n, v in (("hostNetwork", spec.host_network), ("hostPID", spec.host_pid),
                                   ("hostIPC", spec.host_ipc)) if v]
    return Violation("host namespaces", ", ".join(on)) if on else None


def privileged(spec: PodSpec) -> Violation | None:
    bad = [c.name for c in _all(spec) if _sc(c).privileged]
    return Violation("privileged", f"{_containers(bad)} must not set securityContext.privileged=true") if bad else None


def capabilities_baseline(spec: PodSpec) -> Violation | None:
    bad: list[str] = []
    caps: list[str] = []
    for c in _all(spec):
        sc = _sc(c)
        extra = [a for a in (sc.capabilities.add if sc.capabilities else []) if _cap(a) not in BASELINE_CAPS]
        if extra:
            bad.append(c.name)
            caps += [a for a in extra if a not in caps]
    if not bad:
        return None
    return Violation("non-default capabilities",
                     f"{_containers(bad)} must not include {_quote(caps)} in securityContext.capabilities.add")


def host_path_volumes(spec: PodSpec) -> Violation | None:
    bad = [v.name for v in spec.volumes if v.host_path is not None]
    return Violation("hostPath volumes", f"{_plural('volume', 'volumes', len(bad))} {_quote(bad)}") if bad else None


def host_ports(spec: PodSpec) -> Violation | None:
    bad: list[str] = []
    ports: list[str] = []
    for c in _all(spec):
        used = [str(p.host_port) for p in c.ports if p.host_port]
        if used:
            bad.append(c.name)
            ports += used
    if not bad:
        return None
    return Violation("hostPort", f"{_containers(bad)} {_plural('uses', 'use', len(bad))} "
                                 f"{_plural('hostPort', 'hostPorts', len(ports))} {', '.join(ports)}")


def app_armor(spec: PodSpec) -> Violation | None:
    details = []
    psc = spec.security_context
    if psc is not None and psc.app_armor_profile is not None and psc.app_armor_profile.type == "Unconfined":
        details.append('pod must not set securityContext.appArmorProfile.type to "Unconfined"')
    profiles = [(c.name, _sc(c).app_armor_profile) for c in _all(spec)]
    bad = [n for n, p in profiles if p is not None and p.type == "Unconfined"]
    if bad:
        details.append(f'{_containers(bad)} must not set securityContext.appArmorProfile.type to "Unconfined"')
    return Violation("forbidden AppArmor profile", "; ".join(details)) if details else None


def se_linux(spec: PodSpec) -> Violation | None:
    psc = spec.security_context
    bad = [c.name for c in _all(spec) if _sc(c).se_linux_options is not None]
    if (psc is None or psc.se_linux_options is None) and not bad:
        return None
    return Violation("seLinuxOptions", "forbidden securityContext.seLinuxOptions")


def proc_mount(spec: PodSpec) -> Violation | None:
    bad = [c.name for c in _all(spec) if _sc(c).proc_mount not in (None, "Default")]
    if not bad:
        return None
    return Violation("procMount", f'{_containers(bad)} must not set securityContext.procMount to "Unmasked"')


def _seccomp_types(spec: PodSpec) -> tuple[str | None, list[tuple[str, str | None]]]:
    psc = spec.security_context
    pod_type = psc.seccomp_profile.type if psc is not None and psc.seccomp_profile is not None else None
    profiles = [(c.name, _sc(c).seccomp_profile) for c in _all(spec)]
    return pod_type, [(n, p.type if p is not None else None) for n, p in profiles]


def _unconfined(spec: PodSpec) -> list[str]:
    pod_type, containers = _seccomp_types(spec)
    details = ['pod must not set securityContext.seccompProfile.type to "Unconfined"'] if pod_type == "Unconfined" \
        else []
    bad = [n for n, t in containers if t == "Unconfined"]
    if bad:
        details.append(f'{_containers(bad)} must not set securityContext.seccompProfile.type to "Unconfined"')
    return details


def seccomp_baseline(spec: PodSpec) -> Violation | None:
    details = _unconfined(spec)
    return Violation("seccompProfile", "; ".join(details)) if details else None


def sysctls(spec: PodSpec) -> Violation | None:
    psc = spec.security_context
    bad = [s.name for s in (psc.sysctls if psc else []) if s.name not in SAFE_SYSCTLS]
    return Violation("forbidden sysctls", ", ".join(bad)) if bad else None


# -- restricted ----------------------------------------------------------------------------


def restricted_volumes(spec: PodSpec) -> Violation | None:
    bad: list[str] = []
    types: list[str] = []
    for v in spec.volumes:
        used = [t for t in v.source_names() if t not in RESTRICTED_VOLUME_TYPES]
        if used:
            bad.append(v.name)
            types += [t for t in used if t not in types]
    if not bad:
        return None
    return Violation("restricted volume types",
                     f"{_plural('volume', 'volumes', len(bad))} {_quote(bad)} {_plural('uses', 'use', len(bad))} "
                     f"{_plural('restricted volume type', 'restricted volume types', len(types))} {_quote(types)}")


def allow_privilege_escalation(spec: PodSpec) -> Violation | None:
    bad = [c.name for c in _all(spec) if _sc(c).allow_privilege_escalation is not False]
    if not bad:
        return None
    return Violation("allowPrivilegeEscalation != false",
                     f"{_containers(bad)} must set securityContext.allowPrivilegeEscalation=false")


def run_as_non_root(spec: PodSpec) -> Violation | None:
    psc = spec.security_context
    pod_value = psc.run_as_non_root if psc is not None else None
    details = ["pod must not set securityContext.runAsNonRoot=false"] if pod_value is False else []
    explicit_false = [c.name for c in _all(spec) if _sc(c).run_as_non_root is False]
    implicit = [c.name for c in _all(spec) if _sc(c).run_as_non_root is None]
    if explicit_false:
        details.append(f"{_containers(explicit_false)} must not set securityContext.runAsNonRoot=false")
    if pod_value is None and implicit:
        details.append(f"pod or {_containers(implicit)} must set securityContext.runAsNonRoot=true")
    return Violation("runAsNonRoot != true", "; ".join(details)) if details else None


def run_as_user(spec: PodSpec) -> Violation | None:
    psc = spec.security_context
    details = ["pod must not set runAsUser=0"] if psc is not None and psc.run_as_user == 0 else []
    bad = [c.name for c in _all(spec) if _sc(c).run_as_user == 0]
    if bad:
        details.append(f"{_containers(bad)} must not set runAsUser=0")
    return Violation("runAsUser=0", "; ".join(details)) if details else None


def seccomp_restricted(spec: PodSpec) -> Violation | None:
    details = _unconfined(spec)
    pod_type, containers = _seccomp_types(spec)
    if pod_type is None:
        unset = [n for n, t in containers if t is None]
        if unset:
            details.append(f'pod or {_containers(unset)} must set securityContext.seccompProfile.type to '
                           '"RuntimeDefault" or "Localhost"')
    return Violation("seccompProfile", "; ".join(details)) if details else None


def capabilities_restricted(spec: PodSpec) -> Violation | None:
    no_drop: list[str] = []
    bad_add: list[str] = []
    caps: list[str] = []
    for c in _all(spec):
        sc = _sc(c)
        if not any(_cap(d) == "ALL" for d in (sc.capabilities.drop if sc.capabilities else [])):
            no_drop.append(c.name)
        extra = [a for a in (sc.capabilities.add if sc.capabilities else []) if _cap(a) != "NET_BIND_SERVICE"]
        if extra:
            bad_add.append(c.name)
            caps += [a for a in extra if a not in caps]
    details = []
    if no_drop:
        details.append(f'{_containers(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if bad_add:
        details.append(f"{_containers(bad_add)} must not include {_quote(caps)} in securityContext.capabilities.add")
    return Violation("unrestricted capabilities", "; ".join(details)) if details else None


Check = Callable[[PodSpec], Violation | None]

# (Kubernetes check id, level, check, the baseline check id it replaces at restricted)
CHECKS: list[tuple[str, str, Check, str]] = sorted([
    ("allowPrivilegeEscalation", "restricted", allow_privilege_escalation, ""),
    ("appArmorProfile", "baseline", app_armor, ""),
    ("capabilities_baseline", "baseline", capabilities_baseline, ""),
    ("capabilities_restricted", "restricted", capabilities_restricted, "capabilities_baseline"),
    ("hostNamespaces", "baseline", host_namespaces, ""),
    ("hostPathVolumes", "baseline", host_path_volumes, ""),
    ("hostPorts", "baseline", host_ports, ""),
    ("privileged", "baseline", privileged, ""),
    ("procMount", "baseline", proc_mount, ""),
    ("restrictedVolumes", "restricted", restricted_volumes, ""),
    ("runAsNonRoot", "restricted", run_as_non_root, ""),
    ("runAsUser", "restricted", run_as_user, ""),
    ("seLinuxOptions", "baseline", se_linux, ""),
    ("seccompProfile_baseline", "baseline", seccomp_baseline, ""),
    ("seccompProfile_restricted", "restricted", seccomp_restricted, "seccompProfile_baseline"),
    ("sysctls", "baseline", sysctls, ""),
], key=lambda c: c[0])


def evaluate(level: str, spec: PodSpec) -> list[Violation]:
    """Every violation of `level` ("privileged" allows everything), ordered by check id."""
    if level == "privileged":
        return []
    wanted = {"baseline"} if level == "baseline" else {"baseline", "restricted"}
    active = [c for c in CHECKS if c[1] in wanted]
    replaced = {c[3] for c in active if c[3]}
    out = []
    for check_id, _, check, _ in active:
        if check_id in replaced:
            continue
        v = check(spec)
        if v is not None:
            out.append(v)
    return out

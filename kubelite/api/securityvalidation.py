"""Validation of a PodSpec's security settings: Kubernetes' rules, plus refusing what kubelite cannot enforce.

Why refuse instead of ignore: a securityContext is a promise about isolation. A
field the nodes cannot honour (SELinux labels, Windows options, AppArmor
profiles from files on a node without AppArmor, unmasked /proc, sysctls, user
namespaces, a shared PID namespace) would otherwise be accepted and silently
do nothing, and the author would believe the pod is protected. Each such field
is rejected here with a Forbidden cause that names it and says why.
"""

from __future__ import annotations

from kubelite.api.container import AppArmorProfile, SeccompProfile, SecurityContext
from kubelite.api.errors import StatusCause
from kubelite.api.pods import PodSpec

Causes = list[StatusCause]

MAX_ID = 2_147_483_647
SECCOMP_TYPES = ("RuntimeDefault", "Unconfined", "Localhost")
APPARMOR_TYPES = ("RuntimeDefault", "Unconfined", "Localhost")
PROC_MOUNT_TYPES = ("Default", "Unmasked")
FS_GROUP_CHANGE_POLICIES = ("OnRootMismatch", "Always")
SUPPLEMENTAL_GROUPS_POLICIES = ("Merge", "Strict")

# Capability names the Linux kernel knows (Kubernetes spelling, no CAP_ prefix) plus ALL.
KNOWN_CAPABILITIES = frozenset({
    "ALL", "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
    "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT",
    "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "WAKE_ALARM",
})

NO_SELINUX = "SELinux is not supported: kubelite nodes do not run SELinux, so the labels would not be applied"
NO_WINDOWS = "Windows options are not supported: kubelite runs Linux containers only"
NO_APPARMOR_FILES = ("AppArmor is not available on kubelite nodes: only RuntimeDefault and Unconfined "
                     "(both meaning no AppArmor profile) are accepted")


def _id(value: int | None, path: str, out: Causes) -> None:
    if value is not None and not 0 <= value <= MAX_ID:
        out.append(StatusCause.invalid(path, value, f"must be between 0 and {MAX_ID}, inclusive"))


def _seccomp(profile: SeccompProfile | None, path: str, out: Causes) -> None:
    if profile is None:
        return
    if profile.type not in SECCOMP_TYPES:
        out.append(StatusCause.not_supported(f"{path}.type", profile.type, SECCOMP_TYPES))
    elif profile.type == "Localhost" and not profile.localhost_profile:
        out.append(StatusCause.required(f"{path}.localhostProfile", "must be set when seccomp type is Localhost"))
    elif profile.type != "Localhost" and profile.localhost_profile is not None:
        out.append(StatusCause.invalid(f"{path}.localhostProfile", profile.localhost_profile,
                                       "can only be set when seccomp type is Localhost"))
    if profile.localhost_profile and (profile.localhost_profile.startswith("/")
                                      or ".." in profile.localhost_profile.split("/")):
        out.append(StatusCause.invalid(f"{path}.localhostProfile", profile.localhost_profile,
                                       "must be a relative path without '..' (inside the kubelet's seccomp dir)"))


def _apparmor(profile: AppArmorProfile | None, path: str, out: Causes) -> None:
    if profile is None:
        return
    if profile.type not in APPARMOR_TYPES:
        out.append(StatusCause.not_supported(f"{path}.type", profile.type, APPARMOR_TYPES))
    elif profile.type == "Localhost":
        out.append(StatusCause.forbidden(f"{path}.type", NO_APPARMOR_FILES))


def _container(sc: SecurityContext, path: str, out: Causes) -> None:
    if sc.se_linux_options is not None:
        out.append(StatusCause.forbidden(f"{path}.seLinuxOptions", NO_SELINUX))
    if sc.windows_options is not None:
        out.append(StatusCause.forbidden(f"{path}.windowsOptions", NO_WINDOWS))
    _id(sc.run_as_user, f"{path}.runAsUser", out)
    _id(sc.run_as_group, f"{path}.runAsGroup", out)
    _seccomp(sc.seccomp_profile, f"{path}.seccompProfile", out)
    _apparmor(sc.app_armor_profile, f"{path}.appArmorProfile", out)
    if sc.proc_mount is not None:
        if sc.proc_mount not in PROC_MOUNT_TYPES:
            out.append(StatusCause.not_supported(f"{path}.procMount", sc.proc_mount, PROC_MOUNT_TYPES))
        elif sc.proc_mount == "Unmasked":
            out.append(StatusCause.forbidden(f"{path}.procMount",
                                             "Unmasked needs user namespaces (hostUsers: false), which kubelite "
                                             "does not support"))
    caps = sc.capabilities
    if caps is not None:
        for kind, names in (("add", caps.add), ("drop", caps.drop)):
            for i, name in enumerate(names):
                if name.upper().removeprefix("CAP_") not in KNOWN_CAPABILITIES:
                    out.append(StatusCause.not_supported(f"{path}.capabilities.{kind}[{i}]", name,
                                                         sorted(KNOWN_CAPABILITIES)))
    if sc.allow_privilege_escalation is False:
        if sc.privileged:
            out.append(StatusCause.invalid(path, "", "cannot set `allowPrivilegeEscalation` to false and "
                                                     "`privileged` to true"))
        if caps is not None and any(n.upper().removeprefix("CAP_") == "SYS_ADMIN" for n in caps.add):
            out.append(StatusCause.invalid(path, "", "cannot set `allowPrivilegeEscalation` to false and "
                                                     "`capabilities.Add` CAP_SYS_ADMIN"))


def validate_security(spec: PodSpec, path: str, out: Causes) -> None:
    """Security checks of one PodSpec (`path` is its JSON path)."""
    psc = spec.security_context
    spath = f"{path}.securityContext"
    if psc is not None:
        if psc.se_linux_options is not None:
            out.append(StatusCause.forbidden(f"{spath}.seLinuxOptions", NO_SELINUX))
        if psc.se_linux_change_policy is not None:
            out.append(StatusCause.forbidden(f"{spath}.seLinuxChangePolicy", NO_SELINUX))
        if psc.windows_options is not None:
            out.append(StatusCause.forbidden(f"{spath}.windowsOptions", NO_WINDOWS))
        for name, value in (("runAsUser", psc.run_as_user), ("runAsGroup", psc.run_as_group),
                            ("fsGroup", psc.fs_group)):
            _id(value, f"{spath}.{name}", out)
        for i, gid in enumerate(psc.supplemental_groups):
            _id(gid, f"{spath}.supplementalGroups[{i}]", out)
        if psc.sysctls:
            out.append(StatusCause.forbidden(f"{spath}.sysctls",
                                             "sysctls are not supported: kubelite does not set them in pods"))
        if psc.fs_group_change_policy is not None and psc.fs_group_change_policy not in FS_GROUP_CHANGE_POLICIES:
            out.append(StatusCause.not_supported(f"{spath}.fsGroupChangePolicy", psc.fs_group_change_policy,
                                                 FS_GROUP_CHANGE_POLICIES))
        if psc.supplemental_groups_policy is not None:
            if psc.supplemental_groups_policy not in SUPPLEMENTAL_GROUPS_POLICIES:
                out.append(StatusCause.not_supported(f"{spath}.supplementalGroupsPolicy",
                                                     psc.supplemental_groups_policy, SUPPLEMENTAL_GROUPS_POLICIES))
            elif psc.supplemental_groups_policy == "Strict":
                out.append(StatusCause.forbidden(f"{spath}.supplementalGroupsPolicy",
                                                 "Strict is not supported: kubelite always merges the groups of "
                                                 "the image's /etc/group"))
        _seccomp(psc.seccomp_profile, f"{spath}.seccompProfile", out)
        _apparmor(psc.app_armor_profile, f"{spath}.appArmorProfile", out)
    if spec.share_process_namespace:
        out.append(StatusCause.forbidden(f"{path}.shareProcessNamespace",
                                         "a shared PID namespace is not supported by kubelite"))
    if spec.host_users is False:
        out.append(StatusCause.forbidden(f"{path}.hostUsers",
                                         "user namespaces (hostUsers: false) are not supported by kubelite"))
    if spec.os is not None and spec.os.name != "linux":
        out.append(StatusCause.forbidden(f"{path}.os.name", "kubelite runs Linux containers only"))
    for field, containers in (("initContainers", spec.init_containers), ("containers", spec.containers)):
        for i, c in enumerate(containers):
            if c.security_context is not None:
                _container(c.security_context, f"{path}.{field}[{i}].securityContext", out)

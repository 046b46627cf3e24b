"""Pod and container fields kubelite cannot honour, refused by name (and hostAliases checked, which it honours).

Why refuse: each of these is accepted by Kubernetes and changes what happens to
the pod -- scheduling order and preemption, the container runtime, when the pod
counts as Ready, its hostname, its environment, when it is killed. kubelite's
scheduler, kubelet and runtime implement none of them, so accepting the field
would silently drop it and the author would believe it took effect. (Security
fields kubelite cannot enforce are refused in `securityvalidation`.)
"""

from __future__ import annotations

from kubelite.api.errors import StatusCause
from kubelite.api.names import dns1123_subdomain_error, ip_error
from kubelite.api.pods import PodSpec

Causes = list[StatusCause]

NO_PRIORITY = ("pod priority and preemption are not supported: the kubelite scheduler neither orders nor "
               "preempts pods by priority (and there are no PriorityClasses)")
NO_RUNTIME_CLASS = "RuntimeClasses are not supported: every kubelite pod runs with the node's one runtime (runc)"
NO_READINESS_GATES = ("readiness gates are not supported: the kubelet reports a pod Ready from its containers "
                      "alone and would ignore the gate's condition")
NO_FQDN_HOSTNAME = "setHostnameAsFQDN is not supported: the pod's hostname is its short name"
NO_SERVICE_LINKS = ("service links are not supported: kubelite does not inject {SVC}_SERVICE_HOST/_PORT "
                    "variables; use the cluster DNS name of the Service instead (omit the field or set it to false)")
NO_HOOKS = ("lifecycle hooks are not supported: the kubelet runs no postStart/preStop handlers and stops "
            "containers with SIGTERM")
NO_BLOCK_DEVICES = "raw block volumes are not supported: kubelite volumes are filesystems (use volumeMounts)"
NO_RESIZE = "in-place resize is not supported: changing a container's resources recreates the pod"
NO_POD_DEADLINE = ("a pod-level activeDeadlineSeconds is not supported: the kubelet does not stop pods at a "
                   "deadline (a Job's own spec.activeDeadlineSeconds is)")


def validate_supported(spec: PodSpec, path: str, out: Causes) -> None:
    """Refuse the PodSpec fields kubelite would otherwise ignore; check hostAliases."""
    if spec.priority_class_name:
        out.append(StatusCause.forbidden(f"{path}.priorityClassName", NO_PRIORITY))
    if spec.priority is not None:
        out.append(StatusCause.forbidden(f"{path}.priority", NO_PRIORITY))
    if spec.preemption_policy is not None:
        out.append(StatusCause.forbidden(f"{path}.preemptionPolicy", NO_PRIORITY))
    if spec.runtime_class_name:
        out.append(StatusCause.forbidden(f"{path}.runtimeClassName", NO_RUNTIME_CLASS))
    if spec.readiness_gates:
        out.append(StatusCause.forbidden(f"{path}.readinessGates", NO_READINESS_GATES))
    if spec.set_hostname_as_fqdn:
        out.append(StatusCause.forbidden(f"{path}.setHostnameAsFQDN", NO_FQDN_HOSTNAME))
    if spec.enable_service_links:
        out.append(StatusCause.forbidden(f"{path}.enableServiceLinks", NO_SERVICE_LINKS))
    if spec.active_deadline_seconds is not None:
        out.append(StatusCause.forbidden(f"{path}.activeDeadlineSeconds", NO_POD_DEADLINE))
    for field, containers in (("initContainers", spec.init_containers), ("containers", spec.containers)):
        for i, c in enumerate(containers):
            cpath = f"{path}.{field}[{i}]"
            if c.lifecycle is not None:
                for name, handler in (("postStart", c.lifecycle.post_start), ("preStop", c.lifecycle.pre_stop),
                                      ("stopSignal", c.lifecycle.stop_signal)):
                    if handler is not None:
                        out.append(StatusCause.forbidden(f"{cpath}.lifecycle.{name}", NO_HOOKS))
            if c.volume_devices:
                out.append(StatusCause.forbidden(f"{cpath}.volumeDevices", NO_BLOCK_DEVICES))
            if c.resize_policy:
                out.append(StatusCause.forbidden(f"{cpath}.resizePolicy", NO_RESIZE))
    for i, alias in enumerate(spec.host_aliases):
        apath = f"{path}.hostAliases[{i}]"
        err = ip_error(alias.ip)
        if err:
            out.append(StatusCause.invalid(f"{apath}.ip", alias.ip, err))
        if not alias.hostnames:
            out.append(StatusCause.required(f"{apath}.hostnames"))
        for j, hostname in enumerate(alias.hostnames):
            herr = dns1123_subdomain_error(hostname)
            if herr:
                out.append(StatusCause.invalid(f"{apath}.hostnames[{j}]", hostname, herr))

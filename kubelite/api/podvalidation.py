"""Validation of PodSpec (pods and every pod template), with Kubernetes field paths.

Split from kubelite.api.validation to keep each module to one job; `validate_pod_spec`
is what Deployment/ReplicaSet/Job validation calls for `spec.template.spec`.
"""

from __future__ import annotations

from decimal import Decimal

from kubelite.api.container import Container, Probe
from kubelite.api.errors import StatusCause
from kubelite.api.names import dns1123_label_error, env_var_name_error, iana_svc_name_error, ip_error
from kubelite.api.pods import PodSpec, Volume
from kubelite.api.podsupport import validate_supported
from kubelite.api.quantity import parse_quantity
from kubelite.api.securityvalidation import validate_security
from kubelite.api.selectors import label_key_error, label_value_error

Causes = list[StatusCause]

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("TCP", "UDP", "SCTP")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def validate_port_number(value: int, path: str, out: Causes, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not low <= value <= 65535:
        out.append(StatusCause.invalid(path, value, f"must be between {low} and 65535, inclusive"))


def validate_int_or_name_port(value: int | str, path: str, out: Causes) -> None:
    if isinstance(value, int):
        validate_port_number(value, path, out)
        return
    err = iana_svc_name_error(value)
    if err:
        out.append(StatusCause.invalid(path, value, err))


def validate_labels_map(labels: dict[str, str], path: str, out: Causes) -> None:
    for key, value in labels.items():
        err = label_key_error(key)
        if err:
            out.append(StatusCause.invalid(path, key, err))
        verr = label_value_error(value)
        if verr:
            out.append(StatusCause.invalid(f"{path}[{key}]", value, verr))


def _non_negative(value: int | None, path: str, out: Causes) -> None:
    if value is not None and value < 0:
        out.append(StatusCause.invalid(path, value, "must be greater than or equal to 0"))


def _validate_probe(probe: Probe | None, path: str, out: Causes, single_success: bool) -> None:
    if probe is None:
        return
    handlers = [n for n, v in (("exec", probe.exec), ("httpGet", probe.http_get), ("tcpSocket", probe.tcp_socket),
                               ("grpc", probe.grpc)) if v is not None]
    if not handlers:
        out.append(StatusCause.required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        out.append(StatusCause.forbidden(f"{path}.{handlers[1]}", "may not specify more than 1 handler type"))
    if probe.exec is not None and not probe.exec.command:
        out.append(StatusCause.required(f"{path}.exec.command"))
    if probe.http_get is not None:
        validate_int_or_name_port(probe.http_get.port, f"{path}.httpGet.port", out)
        if probe.http_get.scheme not in (None, "HTTP", "HTTPS"):
            out.append(StatusCause.not_supported(f"{path}.httpGet.scheme", probe.http_get.scheme, ("HTTP", "HTTPS")))
    if probe.tcp_socket is not None:
        validate_int_or_name_port(probe.tcp_socket.port, f"{path}.tcpSocket.port", out)
    if probe.grpc is not None:
        validate_port_number(probe.grpc.port, f"{path}.grpc.port", out)
    for name in ("initial_delay_seconds", "timeout_seconds", "period_seconds", "success_threshold",
                 "failure_threshold"):
        value = getattr(probe, name)
        alias = type(probe).model_fields[name].alias or name
        _non_negative(value, f"{path}.{alias}", out)
    if single_success and probe.success_threshold not in (None, 1):
        out.append(StatusCause.invalid(f"{path}.successThreshold", probe.success_threshold, "must be 1"))


def _validate_resources(c: Container, path: str, out: Causes) -> None:
    parsed: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    for kind in ("requests", "limits"):
        for name, text in getattr(c.resources, kind).items():
            field = f"{path}.resources.{kind}[{name}]"
            try:
                amount = parse_quantity(text)
            except ValueError as exc:
                out.append(StatusCause.invalid(field, text, str(exc)))
                continue
            if amount < 0:
                out.append(StatusCause.invalid(field, text, "must be greater than or equal to 0"))
            parsed[kind][name] = amount
    for name, request in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is not None and request > limit:
            out.append(StatusCause.invalid(
                f"{path}.resources.requests", c.resources.requests[name],
                f"must be less than or equal to {name} limit of {c.resources.limits[name]}"))


def validate_container(
    c: Container, path: str, volumes: set[str], out: Causes, host_network: bool, init: bool = False
) -> None:
    err = dns1123_label_error(c.name)
    if err:
        out.append(StatusCause.invalid(f"{path}.name", c.name, err))
    if not c.image or not c.image.strip():
        out.append(StatusCause.required(f"{path}.image"))
    port_names: set[str] = set()
    for i, port in enumerate(c.ports):
        ppath = f"{path}.ports[{i}]"
        if port.name is not None:
            nerr = iana_svc_name_error(port.name)
            if nerr:
                out.append(StatusCause.invalid(f"{ppath}.name", port.name, nerr))
            elif port.name in port_names:
                out.append(StatusCause.duplicate(f"{ppath}.name", port.name))
            port_names.add(port.name)
        validate_port_number(port.container_port, f"{ppath}.containerPort", out)
        if port.host_port is not None:
            validate_port_number(port.host_port, f"{ppath}.hostPort", out, allow_zero=True)
            if host_network and port.host_port not in (0, port.container_port):
                out.append(StatusCause.invalid(f"{ppath}.hostPort", port.host_port,
                                               "must match `containerPort` when `hostNetwork` is true"))
        if port.protocol is not None and port.protocol not in PROTOCOLS:
            out.append(StatusCause.not_supported(f"{ppath}.protocol", port.protocol, PROTOCOLS))
        if port.host_ip is not None and ip_error(port.host_ip):
            out.append(StatusCause.invalid(f"{ppath}.hostIP", port.host_ip, "must be a valid IP address"))
    for i, env in enumerate(c.env):
        epath = f"{path}.env[{i}]"
        eerr = env_var_name_error(env.name)
        if eerr:
            out.append(StatusCause.invalid(f"{epath}.name", env.name, eerr))
        if env.value_from is not None:
            src = env.value_from
            sources = [s for s in (src.field_ref, src.resource_field_ref, src.config_map_key_ref, src.secret_key_ref)
                       if s is not None]
            if env.value:
                out.append(StatusCause.invalid(f"{epath}.valueFrom", "",
                                               "may not be specified when `value` is not empty"))
            if len(sources) != 1:
                out.append(StatusCause.invalid(f"{epath}.valueFrom", "",
                                               "must specify exactly one of: `fieldRef`, `resourceFieldRef`, "
                                               "`configMapKeyRef` or `secretKeyRef`"))
            if src.field_ref is not None and not src.field_ref.field_path:
                out.append(StatusCause.required(f"{epath}.valueFrom.fieldRef.fieldPath"))
    _validate_resources(c, path, out)
    mount_paths: set[str] = set()
    for i, mount in enumerate(c.volume_mounts):
        mpath = f"{path}.volumeMounts[{i}]"
        if mount.name not in volumes:
            out.append(StatusCause(f"{mpath}.name", f'Not found: "{mount.name}"', "FieldValueNotFound"))
        if not mount.mount_path:
            out.append(StatusCause.required(f"{mpath}.mountPath"))
        elif mount.mount_path in mount_paths:
            out.append(StatusCause.invalid(f"{mpath}.mountPath", mount.mount_path, "must be unique"))
        mount_paths.add(mount.mount_path)
    sidecar = init and c.restart_policy == "Always"
    if c.restart_policy is not None and not (init and c.restart_policy == "Always"):
        out.append(StatusCause.forbidden(f"{path}.restartPolicy",
                                         "may only be set to \"Always\" on init containers (sidecars)"))
    _validate_probe(c.liveness_probe, f"{path}.livenessProbe", out, single_success=True)
    _validate_probe(c.startup_probe, f"{path}.startupProbe", out, single_success=True)
    _validate_probe(c.readiness_probe, f"{path}.readinessProbe", out, single_success=False)
    if init and not sidecar:
        for probe_name in ("liveness_probe", "readiness_probe", "startup_probe"):
            if getattr(c, probe_name) is not None:
                alias = Container.model_fields[probe_name].alias or probe_name
                out.append(StatusCause.forbidden(f"{path}.{alias}", "may not be set for init containers"))
    if c.image_pull_policy is not None and c.image_pull_policy not in PULL_POLICIES:
        out.append(StatusCause.not_supported(f"{path}.imagePullPolicy", c.image_pull_policy, PULL_POLICIES))
    if c.termination_message_policy is not None and c.termination_message_policy not in TERMINATION_MESSAGE_POLICIES:
        out.append(StatusCause.not_supported(f"{path}.terminationMessagePolicy", c.termination_message_policy,
                                             TERMINATION_MESSAGE_POLICIES))


def _validate_volume(vol: Volume, path: str, out: Causes) -> None:
    err = dns1123_label_error(vol.name)
    if err:
        out.append(StatusCause.invalid(f"{path}.name", vol.name, err))
    sources = vol.source_names()
    if not sources:
        out.append(StatusCause.required(path, "must specify a volume type"))
    elif len(sources) > 1:
        out.append(StatusCause.forbidden(f"{path}.{sources[1]}", "may not specify more than 1 volume type"))
    if vol.host_path is not None and not vol.host_path.path:
        out.append(StatusCause.required(f"{path}.hostPath.path"))
    if vol.config_map is not None and not vol.config_map.name:
        out.append(StatusCause.required(f"{path}.configMap.name"))
    if vol.secret is not None and not vol.secret.secret_name:
        out.append(StatusCause.required(f"{path}.secret.secretName"))
    if vol.empty_dir is not None and vol.empty_dir.size_limit is not None:
        try:
            parse_quantity(vol.empty_dir.size_limit)
        except ValueError as exc:
            out.append(StatusCause.invalid(f"{path}.emptyDir.sizeLimit", vol.empty_dir.size_limit, str(exc)))


def validate_pod_spec(spec: PodSpec, path: str) -> Causes:
    """All checks of one PodSpec; `path` is its JSON path ("spec" or "spec.template.spec")."""
    out: Causes = []
    volumes: set[str] = set()
    for i, vol in enumerate(spec.volumes):
        _validate_volume(vol, f"{path}.volumes[{i}]", out)
        if vol.name in volumes:
            out.append(StatusCause.duplicate(f"{path}.volumes[{i}].name", vol.name))
        volumes.add(vol.name)
    if not spec.containers:
        out.append(StatusCause.required(f"{path}.containers"))
    names: set[str] = set()
    host_network = bool(spec.host_network)
    for field, containers, init in (("initContainers", spec.init_containers, True),
                                    ("containers", spec.containers, False)):
        for i, c in enumerate(containers):
            cpath = f"{path}.{field}[{i}]"
            validate_container(c, cpath, volumes, out, host_network, init=init)
            if c.name in names:
                out.append(StatusCause.duplicate(f"{cpath}.name", c.name))
            names.add(c.name)
    if spec.restart_policy is not None and spec.restart_policy not in RESTART_POLICIES:
        out.append(StatusCause.not_supported(f"{path}.restartPolicy", spec.restart_policy, RESTART_POLICIES))
    if spec.dns_policy is not None and spec.dns_policy not in DNS_POLICIES:
        out.append(StatusCause.not_supported(f"{path}.dnsPolicy", spec.dns_policy, DNS_POLICIES))
    _non_negative(spec.termination_grace_period_seconds, f"{path}.terminationGracePeriodSeconds", out)
    if spec.active_deadline_seconds is not None and spec.active_deadline_seconds <= 0:
        out.append(StatusCause.invalid(f"{path}.activeDeadlineSeconds", spec.active_deadline_seconds,
                                       "must be between 1 and 2147483647, inclusive"))
    validate_labels_map(spec.node_selector, f"{path}.nodeSelector", out)
    for field_name, value in (("hostname", spec.hostname), ("subdomain", spec.subdomain)):
        if value is not None:
            herr = dns1123_label_error(value)
            if herr:
                out.append(StatusCause.invalid(f"{path}.{field_name}", value, herr))
    for i, tol in enumerate(spec.tolerations):
        tpath = f"{path}.tolerations[{i}]"
        if tol.operator not in (None, "Equal", "Exists"):
            out.append(StatusCause.not_supported(f"{tpath}.operator", tol.operator, ("Equal", "Exists")))
        if tol.operator == "Exists" and tol.value:
            out.append(StatusCause.invalid(f"{tpath}.operator", tol.operator,
                                           "value must be empty when `operator` is 'Exists'"))
        if not tol.key and tol.operator != "Exists":
            out.append(StatusCause.invalid(f"{tpath}.operator", tol.operator or "",
                                           "operator must be Exists when `key` is empty, which means "
                                           "\"match all values and all keys\""))
        if tol.key:
            kerr = label_key_error(tol.key)
            if kerr:
                out.append(StatusCause.invalid(f"{tpath}.key", tol.key, kerr))
        if tol.effect is not None and tol.effect not in TAINT_EFFECTS:
            out.append(StatusCause.not_supported(f"{tpath}.effect", tol.effect, TAINT_EFFECTS))
    validate_security(spec, path, out)
    validate_supported(spec, path, out)
    return out

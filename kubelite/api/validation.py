"""Validation of objects (create) and of changes (update), as lists of field causes.

The apiserver runs `validate` after `apply_defaults` and rejects with
`Invalid.for_object(kind, name, causes)`; kctl runs it before sending so a bad
manifest fails locally naming file, document and field. Field paths are JSON
paths with Kubernetes' names (`spec.template.spec.containers[0].image`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from kubelite.api import quota
from kubelite.api.apps import DaemonSet, Deployment, Job, JobSpec, ReplicaSet, StatefulSet
from kubelite.api.autoscaling import HorizontalPodAutoscaler, validate_hpa
from kubelite.api.base import IntOrString
from kubelite.api.batch import CronJob, validate_cron_job
from kubelite.api.core import ConfigMap, Event, Lease, Namespace, Node, Secret, Service
from kubelite.api.errors import BadRequest, StatusCause
from kubelite.api.fieldchecks import gt_eq_zero as _gt_eq_zero
from kubelite.api.fieldchecks import int_or_percent as _int_or_percent
from kubelite.api.fieldchecks import validate_selector
from kubelite.api.ingress import Ingress, IngressClass, validate_ingress, validate_ingress_class
from kubelite.api.limitrange import validate_limit_range
from kubelite.api.meta import LabelSelector, ObjectMeta, Resource
from kubelite.api.names import (
    cidr_error,
    config_key_error,
    dns1123_label_error,
    dns1123_subdomain_error,
    ip_error,
)
from kubelite.api.namespacepolicy import LimitRange, ResourceQuota
from kubelite.api.netpolvalidation import validate_network_policy
from kubelite.api.networking import NetworkPolicy
from kubelite.api.pods import EmptyDirVolumeSource, Pod, PodSpec, PodTemplateSpec, Volume
from kubelite.api.podvalidation import (
    PROTOCOLS,
    TAINT_EFFECTS,
    validate_int_or_name_port,
    validate_labels_map,
    validate_pod_spec,
    validate_port_number,
)
from kubelite.api.selectors import label_key_error, label_matcher
from kubelite.api.storagevalidation import (
    STORAGE_VALIDATORS,
    validate_claim_template,
    validate_storage_update,
)

Causes = list[StatusCause]

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
NODE_PORT_RANGE = (30000, 32767)
MAX_ANNOTATIONS_BYTES = 256 * 1024
MAX_CONFIG_DATA_BYTES = 1024 * 1024  # ConfigMap and Secret payloads, as Kubernetes limits them

# Kinds whose names must be DNS-1123 labels (they become DNS names / path segments).
_LABEL_NAMED = (Namespace, Service)


def validate_object_meta(meta: ObjectMeta, name_rule: Callable[[str], str | None], out: Causes,
                         path: str = "metadata") -> None:
    if meta.name:
        err = name_rule(meta.name)
        if err:
            out.append(StatusCause.invalid(f"{path}.name", meta.name, err))
    elif meta.generate_name:
        err = name_rule(meta.generate_name.rstrip("-") or "x")
        if err:
            out.append(StatusCause.invalid(f"{path}.generateName", meta.generate_name, err))
    else:
        out.append(StatusCause.required(f"{path}.name", "name or generateName is required"))
    if meta.namespace:
        err = dns1123_label_error(meta.namespace)
        if err:
            out.append(StatusCause.invalid(f"{path}.namespace", meta.namespace, err))
    validate_labels_map(meta.labels, f"{path}.labels", out)
    size = 0
    for key, value in meta.annotations.items():
        kerr = label_key_error(key)
        if kerr:
            out.append(StatusCause.invalid(f"{path}.annotations", key, kerr))
        size += len(key.encode()) + len(value.encode())
    if size > MAX_ANNOTATIONS_BYTES:
        out.append(StatusCause.too_long(f"{path}.annotations", MAX_ANNOTATIONS_BYTES))
    controllers = 0
    for i, ref in enumerate(meta.owner_references):
        rpath = f"{path}.ownerReferences[{i}]"
        for field, value in (("apiVersion", ref.api_version), ("kind", ref.kind), ("name", ref.name),
                             ("uid", ref.uid)):
            if not value:
                out.append(StatusCause.required(f"{rpath}.{field}"))
        controllers += 1 if ref.controller else 0
    if controllers > 1:
        out.append(StatusCause.invalid(f"{path}.ownerReferences", controllers,
                                       "Only one reference can have Controller set to true"))
    for i, fin in enumerate(meta.finalizers):
        if not fin or label_key_error(fin):
            out.append(StatusCause.invalid(f"{path}.finalizers[{i}]", fin,
                                           "must be a qualified name (e.g. 'example.com/my-finalizer')"))
    _gt_eq_zero(meta.generation, f"{path}.generation", out)


def _validate_template(template: PodTemplateSpec, sel: LabelSelector | None, path: str, out: Causes,
                       restart_policies: tuple[str, ...] = ("Always",)) -> None:
    validate_labels_map(template.metadata.labels, f"{path}.metadata.labels", out)
    if sel is not None and (sel.match_labels or sel.match_expressions):
        try:
            matcher = label_matcher(sel)
        except BadRequest:
            matcher = None
        if matcher is not None and not matcher.matches(template.metadata.labels):
            out.append(StatusCause.invalid(f"{path}.metadata.labels", template.metadata.labels,
                                           "`selector` does not match template `labels`"))
    policy = template.spec.restart_policy
    if policy is not None and policy not in restart_policies:
        out.append(StatusCause.not_supported(f"{path}.spec.restartPolicy", policy, restart_policies))
    out.extend(validate_pod_spec(template.spec, f"{path}.spec"))


def _validate_replicated(replicas: int | None, sel: LabelSelector | None, template: PodTemplateSpec,
                         kind: str, out: Causes) -> None:
    _gt_eq_zero(replicas, "spec.replicas", out)
    validate_selector(sel, "spec.selector", out)
    if sel is not None and not sel.match_labels and not sel.match_expressions:
        out.append(StatusCause.invalid("spec.selector", {}, f"empty selector is invalid for {kind}"))
    _validate_template(template, sel, "spec.template", out)


def _is_zero(value: IntOrString | None) -> bool:
    return value in (0, "0%")


def _deployment(obj: Deployment, out: Causes) -> None:
    spec = obj.spec
    _validate_replicated(spec.replicas, spec.selector, spec.template, "deployment", out)
    strategy = spec.strategy
    if strategy is not None:
        if strategy.type not in (None, "RollingUpdate", "Recreate"):
            out.append(StatusCause.not_supported("spec.strategy.type", strategy.type, ("Recreate", "RollingUpdate")))
        ru = strategy.rolling_update
        if strategy.type == "Recreate" and ru is not None:
            out.append(StatusCause.forbidden("spec.strategy.rollingUpdate",
                                             "may not be specified when strategy `type` is 'Recreate'"))
        if ru is not None:
            _int_or_percent(ru.max_unavailable, "spec.strategy.rollingUpdate.maxUnavailable", out)
            _int_or_percent(ru.max_surge, "spec.strategy.rollingUpdate.maxSurge", out)
            if _is_zero(ru.max_unavailable) and _is_zero(ru.max_surge):
                out.append(StatusCause.invalid("spec.strategy.rollingUpdate.maxUnavailable", ru.max_unavailable,
                                               "may not be 0 when `maxSurge` is 0"))
    _gt_eq_zero(spec.min_ready_seconds, "spec.minReadySeconds", out)
    _gt_eq_zero(spec.revision_history_limit, "spec.revisionHistoryLimit", out)
    if spec.progress_deadline_seconds is not None:
        if spec.progress_deadline_seconds <= (spec.min_ready_seconds or 0):
            out.append(StatusCause.invalid("spec.progressDeadlineSeconds", spec.progress_deadline_seconds,
                                           "must be greater than minReadySeconds"))


def _replica_set(obj: ReplicaSet, out: Causes) -> None:
    spec = obj.spec
    _validate_replicated(spec.replicas, spec.selector, spec.template, "replicaset", out)
    _gt_eq_zero(spec.min_ready_seconds, "spec.minReadySeconds", out)


def _daemon_set(obj: DaemonSet, out: Causes) -> None:
    _validate_replicated(None, obj.spec.selector, obj.spec.template, "daemonset", out)


def _stateful_set(obj: StatefulSet, out: Causes) -> None:
    spec = obj.spec
    # Each volumeClaimTemplate becomes a pod volume of its name: the template may mount it.
    template = spec.template.model_copy(deep=True)
    for i, claim in enumerate(spec.volume_claim_templates):
        meta = claim.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            out.append(StatusCause.required(f"spec.volumeClaimTemplates[{i}].metadata.name"))
            continue
        err = dns1123_subdomain_error(name)
        if err:
            out.append(StatusCause.invalid(f"spec.volumeClaimTemplates[{i}].metadata.name", name, err))
        validate_claim_template(claim, f"spec.volumeClaimTemplates[{i}]", out)
        if all(v.name != name for v in template.spec.volumes):
            template.spec.volumes.append(Volume(name=name, empty_dir=EmptyDirVolumeSource()))
    _validate_replicated(spec.replicas, spec.selector, template, "statefulset", out)
    if spec.pod_management_policy not in (None, "OrderedReady", "Parallel"):
        out.append(StatusCause.not_supported("spec.podManagementPolicy", spec.pod_management_policy,
                                             ("OrderedReady", "Parallel")))
    strategy = spec.update_strategy or {}
    kind = strategy.get("type")
    if kind not in (None, "RollingUpdate", "OnDelete"):
        out.append(StatusCause.not_supported("spec.updateStrategy.type", kind, ("OnDelete", "RollingUpdate")))
    rolling = strategy.get("rollingUpdate")
    if isinstance(rolling, dict):
        partition = rolling.get("partition")
        if partition is not None and (not isinstance(partition, int) or isinstance(partition, bool) or partition < 0):
            out.append(StatusCause.invalid("spec.updateStrategy.rollingUpdate.partition", partition,
                                           "must be greater than or equal to 0"))
    _gt_eq_zero(spec.min_ready_seconds, "spec.minReadySeconds", out)


def _job(obj: Job, out: Causes) -> None:
    _job_spec(obj.spec, "spec", out)


def _job_spec(spec: JobSpec, path: str, out: Causes) -> None:
    """Job rules; shared by Jobs and CronJobs' jobTemplate (`path` is "spec" or "spec.jobTemplate.spec")."""
    for field, value in (("parallelism", spec.parallelism), ("completions", spec.completions),
                         ("backoffLimit", spec.backoff_limit)):
        _gt_eq_zero(value, f"{path}.{field}", out)
    if spec.active_deadline_seconds is not None and spec.active_deadline_seconds <= 0:
        out.append(StatusCause.invalid(f"{path}.activeDeadlineSeconds", spec.active_deadline_seconds,
                                       "must be greater than 0"))
    validate_selector(spec.selector, f"{path}.selector", out, required=False)
    policy = spec.template.spec.restart_policy
    if policy is None:
        out.append(StatusCause.required(f"{path}.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"'))
    _validate_template(spec.template, spec.selector, f"{path}.template", out, ("OnFailure", "Never"))


def _cron_job(obj: CronJob, out: Causes) -> None:
    validate_cron_job(obj, out)
    _job_spec(obj.spec.job_template.spec, "spec.jobTemplate.spec", out)


def _pod(obj: Pod, out: Causes) -> None:
    out.extend(validate_pod_spec(obj.spec, "spec"))


def _service(obj: Service, out: Causes) -> None:
    spec = obj.spec
    kind = spec.type or "ClusterIP"
    if kind not in SERVICE_TYPES:
        out.append(StatusCause.not_supported("spec.type", spec.type, SERVICE_TYPES))
    headless = spec.cluster_ip == "None"
    if kind == "ExternalName":
        if not spec.external_name:
            out.append(StatusCause.required("spec.externalName"))
        elif dns1123_subdomain_error(spec.external_name.rstrip(".")):
            out.append(StatusCause.invalid("spec.externalName", spec.external_name, "must be a valid DNS name"))
    elif not spec.ports and not headless:
        out.append(StatusCause.required("spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(spec.ports):
        path = f"spec.ports[{i}]"
        if len(spec.ports) > 1 and not port.name:
            out.append(StatusCause.required(f"{path}.name"))
        if port.name:
            err = dns1123_label_error(port.name)
            if err:
                out.append(StatusCause.invalid(f"{path}.name", port.name, err))
            elif port.name in names:
                out.append(StatusCause.duplicate(f"{path}.name", port.name))
            names.add(port.name)
        validate_port_number(port.port, f"{path}.port", out)
        if port.protocol is not None and port.protocol not in PROTOCOLS:
            out.append(StatusCause.not_supported(f"{path}.protocol", port.protocol, PROTOCOLS))
        if port.target_port is not None:
            validate_int_or_name_port(port.target_port, f"{path}.targetPort", out)
        if port.node_port is not None and port.node_port != 0:
            if kind not in ("NodePort", "LoadBalancer"):
                out.append(StatusCause.forbidden(f"{path}.nodePort", f"may not be used when `type` is '{kind}'"))
            elif not NODE_PORT_RANGE[0] <= port.node_port <= NODE_PORT_RANGE[1]:
                out.append(StatusCause.invalid(f"{path}.nodePort", port.node_port,
                                               "provided port is not in the valid range. The range of valid "
                                               f"ports is {NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}"))
    validate_labels_map(spec.selector, "spec.selector", out)
    if spec.cluster_ip not in (None, "", "None") and ip_error(spec.cluster_ip):
        out.append(StatusCause.invalid("spec.clusterIP", spec.cluster_ip, "must be empty, 'None', or a valid IP"))
    for i, ip in enumerate(spec.external_ips):
        if ip_error(ip):
            out.append(StatusCause.invalid(f"spec.externalIPs[{i}]", ip, "must be a valid IP address"))
    if spec.session_affinity not in (None, "None", "ClientIP"):
        out.append(StatusCause.not_supported("spec.sessionAffinity", spec.session_affinity, ("ClientIP", "None")))
    for field, value in (("externalTrafficPolicy", spec.external_traffic_policy),
                         ("internalTrafficPolicy", spec.internal_traffic_policy)):
        if value not in (None, "Cluster", "Local"):
            out.append(StatusCause.not_supported(f"spec.{field}", value, ("Cluster", "Local")))


def _node(obj: Node, out: Causes) -> None:
    for field, cidrs in (("podCIDR", [obj.spec.pod_cidr] if obj.spec.pod_cidr else []),
                         ("podCIDRs", obj.spec.pod_cidrs)):
        for cidr in cidrs:
            if cidr_error(cidr):
                out.append(StatusCause.invalid(f"spec.{field}", cidr, "must be a valid CIDR"))
    for i, taint in enumerate(obj.spec.taints):
        err = label_key_error(taint.key)
        if err:
            out.append(StatusCause.invalid(f"spec.taints[{i}].key", taint.key, err))
        if taint.effect not in TAINT_EFFECTS:
            out.append(StatusCause.not_supported(f"spec.taints[{i}].effect", taint.effect, TAINT_EFFECTS))


def _config_keys(keys: list[str], path: str, out: Causes) -> None:
    for key in keys:
        err = config_key_error(key)
        if err:
            out.append(StatusCause.invalid(path, key, err))


def _data_size(out: Causes, plain: dict[str, str], encoded: dict[str, str]) -> None:
    """A ConfigMap's or Secret's keys and values together may hold at most 1 MiB.

    Why: every watcher of the kind gets the whole object, and a kubelet mounts it in
    memory; base64 values (`encoded`) count as the bytes they stand for.
    """
    size = sum(len(k.encode()) + len(v.encode()) for k, v in plain.items())
    size += sum(len(k.encode()) + len(v) * 3 // 4 for k, v in encoded.items())
    if size > MAX_CONFIG_DATA_BYTES:
        out.append(StatusCause.too_long("", MAX_CONFIG_DATA_BYTES))


def _config_map(obj: ConfigMap, out: Causes) -> None:
    _config_keys(list(obj.data), "data", out)
    _config_keys(list(obj.binary_data), "binaryData", out)
    _data_size(out, obj.data, obj.binary_data)
    for key in set(obj.data) & set(obj.binary_data):
        out.append(StatusCause.invalid("data", key, "duplicate of key present in binaryData"))


def _secret(obj: Secret, out: Causes) -> None:
    _config_keys(list(obj.data), "data", out)
    _config_keys(list(obj.string_data), "stringData", out)
    _data_size(out, obj.string_data, obj.data)
    for key, value in obj.data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            out.append(StatusCause.invalid(f"data[{key}]", "<secret contents redacted>",
                                           "must be base64-encoded"))


def _lease(obj: Lease, out: Causes) -> None:
    if obj.spec.lease_duration_seconds is not None and obj.spec.lease_duration_seconds <= 0:
        out.append(StatusCause.invalid("spec.leaseDurationSeconds", obj.spec.lease_duration_seconds,
                                       "must be greater than 0"))
    _gt_eq_zero(obj.spec.lease_transitions, "spec.leaseTransitions", out)


def _event(obj: Event, out: Causes) -> None:
    if not obj.involved_object.name and not obj.involved_object.kind:
        out.append(StatusCause.required("involvedObject"))
    if obj.type not in (None, "Normal", "Warning"):
        out.append(StatusCause.not_supported("type", obj.type, ("Normal", "Warning")))


def _resource_quota(obj: ResourceQuota, out: Causes) -> None:
    for name, text in obj.spec.hard.items():
        err = quota.name_error(name)
        if err:
            out.append(StatusCause.invalid(f"spec.hard[{name}]", name, err))
            continue
        try:
            amount = quota.parse_amount(name, text)
        except ValueError as exc:
            out.append(StatusCause.invalid(f"spec.hard[{name}]", text, str(exc)))
            continue
        if amount < 0:
            out.append(StatusCause.invalid(f"spec.hard[{name}]", text, "must be greater than or equal to 0"))


_VALIDATORS: dict[type[Resource], Callable[[Any, Causes], None]] = {
    Pod: _pod, Deployment: _deployment, ReplicaSet: _replica_set, DaemonSet: _daemon_set,
    StatefulSet: _stateful_set, Job: _job, Service: _service, Node: _node, ConfigMap: _config_map,
    Secret: _secret, Lease: _lease, Event: _event, CronJob: _cron_job, ResourceQuota: _resource_quota,
    LimitRange: validate_limit_range, NetworkPolicy: validate_network_policy, Ingress: validate_ingress,
    IngressClass: validate_ingress_class, HorizontalPodAutoscaler: validate_hpa, **STORAGE_VALIDATORS,
}


def validate(obj: Resource) -> list[StatusCause]:
    """Every problem with `obj` (empty list = valid). Meant to run after apply_defaults."""
    out: Causes = []
    rule = dns1123_label_error if isinstance(obj, _LABEL_NAMED) else dns1123_subdomain_error
    validate_object_meta(obj.metadata, rule, out)
    fn = _VALIDATORS.get(type(obj))
    if fn is not None:
        fn(obj, out)
    return out


# --- updates ------------------------------------------------------------------------


def _immutable(old: Any, new: Any, path: str, out: Causes) -> None:
    if old != new:
        out.append(StatusCause.invalid(path, new, "field is immutable"))


def _pod_spec_update(old: PodSpec, new: PodSpec, out: Causes) -> None:
    """Pods are immutable except images, activeDeadlineSeconds (shorter) and added tolerations."""
    if len(old.containers) != len(new.containers) or len(old.init_containers) != len(new.init_containers):
        out.append(StatusCause.forbidden("spec", "pod updates may not add or remove containers"))
        return
    probe = new.model_copy(deep=True)
    for c_old, c_new in zip(old.all_containers(), probe.all_containers(), strict=True):
        c_new.image = c_old.image
    probe.active_deadline_seconds = old.active_deadline_seconds
    probe.tolerations = old.tolerations
    if probe.node_name is None:
        probe.node_name = old.node_name  # bound through Bind, not Update; an Update may omit it
    if probe.to_dict() != old.to_dict():
        out.append(StatusCause.forbidden(
            "spec", "pod updates may not change fields other than `spec.containers[*].image`, "
                    "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` "
                    "(only additions to existing tolerations)"))
    if old.active_deadline_seconds is not None:
        if new.active_deadline_seconds is None:
            out.append(StatusCause.invalid("spec.activeDeadlineSeconds", None, "must not be unset once set"))
        elif new.active_deadline_seconds > old.active_deadline_seconds:
            out.append(StatusCause.invalid("spec.activeDeadlineSeconds", new.active_deadline_seconds,
                                           "must be less than or equal to previous value"))
    new_tols = [t.to_dict() for t in new.tolerations]
    for t in old.tolerations:
        if t.to_dict() not in new_tols:
            out.append(StatusCause.forbidden("spec.tolerations", "existing toleration can not be modified or removed"))
            break


def validate_update(old: Resource, new: Resource) -> list[StatusCause]:
    """Problems with changing `old` into `new`: immutable fields plus validate(new)."""
    out = validate(new)
    _immutable(old.metadata.name, new.metadata.name, "metadata.name", out)
    _immutable(old.metadata.namespace or "", new.metadata.namespace or "", "metadata.namespace", out)
    if new.metadata.uid and old.metadata.uid and new.metadata.uid != old.metadata.uid:
        _immutable(old.metadata.uid, new.metadata.uid, "metadata.uid", out)
    if type(old) is not type(new):
        out.append(StatusCause.invalid("kind", new.kind, f"may not change from {old.kind}"))
        return out
    if isinstance(old, (Deployment, ReplicaSet, DaemonSet, StatefulSet, Job)):
        assert isinstance(new, (Deployment, ReplicaSet, DaemonSet, StatefulSet, Job))
        old_sel = old.spec.selector.to_dict() if old.spec.selector else None
        new_sel = new.spec.selector.to_dict() if new.spec.selector else None
        if not (isinstance(old, Job) and old_sel is None):
            _immutable(old_sel, new_sel, "spec.selector", out)
    if isinstance(old, Pod) and isinstance(new, Pod):
        _pod_spec_update(old.spec, new.spec, out)
    if isinstance(old, Service) and isinstance(new, Service):
        if old.spec.cluster_ip and new.spec.cluster_ip and old.spec.cluster_ip != new.spec.cluster_ip:
            _immutable(old.spec.cluster_ip, new.spec.cluster_ip, "spec.clusterIP", out)
    if isinstance(old, (ConfigMap, Secret)) and isinstance(new, (ConfigMap, Secret)) and old.immutable:
        if not new.immutable:
            out.append(StatusCause.forbidden("immutable", "field is immutable when `immutable` is set"))
        if old.data != new.data or (isinstance(old, ConfigMap) and isinstance(new, ConfigMap)
                                    and old.binary_data != new.binary_data):
            out.append(StatusCause.forbidden("data", "field is immutable when `immutable` is set"))
    validate_storage_update(old, new, out)
    if isinstance(old, Node) and isinstance(new, Node) and old.spec.pod_cidr:
        if new.spec.pod_cidr and new.spec.pod_cidr != old.spec.pod_cidr:
            _immutable(old.spec.pod_cidr, new.spec.pod_cidr, "spec.podCIDR", out)
    return out

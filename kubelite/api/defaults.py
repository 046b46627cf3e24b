"""Defaulting: fill the fields Kubernetes fills when an object is created or updated.

Run by the apiserver before validation (and by kctl for local previews), so every
stored object is explicit: controllers and the kubelet never guess what an unset
`restartPolicy` or `replicas` means. Only unset fields are touched; running it
twice changes nothing. `metadata.namespace` is left to the server.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from kubelite.api.apps import (
    DaemonSet,
    DaemonSetUpdateStrategy,
    Deployment,
    DeploymentStrategy,
    Job,
    JobSpec,
    ReplicaSet,
    RollingUpdateDaemonSet,
    RollingUpdateDeployment,
    StatefulSet,
)
from kubelite.api.autoscaling import HorizontalPodAutoscaler, default_hpa
from kubelite.api.batch import CronJob, default_cron_job
from kubelite.api.container import Container, Probe, image_pull_policy_for
from kubelite.api.core import Namespace, Secret, Service
from kubelite.api.limitrange import default_limit_range
from kubelite.api.meta import Resource
from kubelite.api.namespacepolicy import LimitRange
from kubelite.api.pods import Pod, PodSpec, PodTemplateSpec
from kubelite.api.policy import PodDisruptionBudget
from kubelite.api.storage import PersistentVolume, PersistentVolumeClaim, StorageClass

DEFAULT_TERMINATION_GRACE_PERIOD = 30
DEFAULT_SCHEDULER = "default-scheduler"
TERMINATION_MESSAGE_PATH = "/dev/termination-log"


def _default_probe(probe: Probe | None) -> None:
    if probe is None:
        return
    if probe.timeout_seconds is None:
        probe.timeout_seconds = 1
    if probe.period_seconds is None:
        probe.period_seconds = 10
    if probe.success_threshold is None:
        probe.success_threshold = 1
    if probe.failure_threshold is None:
        probe.failure_threshold = 3
    if probe.http_get is not None:
        if probe.http_get.path is None:
            probe.http_get.path = "/"
        if probe.http_get.scheme is None:
            probe.http_get.scheme = "HTTP"


def default_container(c: Container, host_network: bool = False) -> None:
    if c.image_pull_policy is None:
        c.image_pull_policy = image_pull_policy_for(c.image)
    if c.termination_message_path is None:
        c.termination_message_path = TERMINATION_MESSAGE_PATH
    if c.termination_message_policy is None:
        c.termination_message_policy = "File"
    for port in c.ports:
        if port.protocol is None:
            port.protocol = "TCP"
        if host_network and port.host_port is None:
            port.host_port = port.container_port
    for env in c.env:
        if env.value_from is not None and env.value_from.field_ref is not None:
            if env.value_from.field_ref.api_version is None:
                env.value_from.field_ref.api_version = "v1"
    # A limit without a request means "request the limit" (as in Kubernetes).
    for name, limit in c.resources.limits.items():
        c.resources.requests.setdefault(name, limit)
    for probe in (c.liveness_probe, c.readiness_probe, c.startup_probe):
        _default_probe(probe)


def default_pod_spec(spec: PodSpec) -> None:
    if spec.restart_policy is None:
        spec.restart_policy = "Always"
    if spec.termination_grace_period_seconds is None:
        spec.termination_grace_period_seconds = DEFAULT_TERMINATION_GRACE_PERIOD
    if spec.dns_policy is None:
        spec.dns_policy = "ClusterFirst"
    if spec.scheduler_name is None:
        spec.scheduler_name = DEFAULT_SCHEDULER
    if spec.service_account and spec.service_account_name is None:
        spec.service_account_name = spec.service_account
    for c in spec.all_containers():
        default_container(c, bool(spec.host_network))
    for vol in spec.volumes:
        if vol.config_map is not None and vol.config_map.default_mode is None:
            vol.config_map.default_mode = 0o644
        if vol.secret is not None and vol.secret.default_mode is None:
            vol.secret.default_mode = 0o644


def default_pod_template(template: PodTemplateSpec) -> None:
    default_pod_spec(template.spec)


def _pod(obj: Pod) -> None:
    default_pod_spec(obj.spec)
    if obj.status.phase is None:
        obj.status.phase = "Pending"


def _deployment(obj: Deployment) -> None:
    spec = obj.spec
    if spec.replicas is None:
        spec.replicas = 1
    if spec.strategy is None:
        spec.strategy = DeploymentStrategy()
    if spec.strategy.type is None:
        spec.strategy.type = "RollingUpdate"
    if spec.strategy.type == "RollingUpdate":
        ru = spec.strategy.rolling_update = spec.strategy.rolling_update or RollingUpdateDeployment()
        if ru.max_unavailable is None:
            ru.max_unavailable = "25%"
        if ru.max_surge is None:
            ru.max_surge = "25%"
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    if spec.progress_deadline_seconds is None:
        spec.progress_deadline_seconds = 600
    # apps/v1: the selector is required, never derived from the template labels.
    default_pod_template(spec.template)


def _replica_set(obj: ReplicaSet) -> None:
    if obj.spec.replicas is None:
        obj.spec.replicas = 1
    default_pod_template(obj.spec.template)


def _daemon_set(obj: DaemonSet) -> None:
    strategy = obj.spec.update_strategy
    if strategy is None:
        strategy = obj.spec.update_strategy = DaemonSetUpdateStrategy()
    if strategy.type is None:
        strategy.type = "RollingUpdate"
    if strategy.type == "RollingUpdate":
        ru = strategy.rolling_update = strategy.rolling_update or RollingUpdateDaemonSet()
        if ru.max_unavailable is None:
            ru.max_unavailable = 1
        if ru.max_surge is None:
            ru.max_surge = 0
    if obj.spec.revision_history_limit is None:
        obj.spec.revision_history_limit = 10
    default_pod_template(obj.spec.template)


def _stateful_set(obj: StatefulSet) -> None:
    spec = obj.spec
    if spec.replicas is None:
        spec.replicas = 1
    if spec.pod_management_policy is None:
        spec.pod_management_policy = "OrderedReady"
    if spec.update_strategy is None:
        spec.update_strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    default_pod_template(spec.template)


def _job(obj: Job) -> None:
    default_job_spec(obj.spec)


def default_job_spec(spec: JobSpec) -> None:
    """Job defaults; shared by Jobs and CronJobs' jobTemplate."""
    if spec.completions is None and spec.parallelism is None:
        spec.completions = 1
    if spec.parallelism is None:
        spec.parallelism = 1
    if spec.backoff_limit is None:
        spec.backoff_limit = 6
    if spec.completion_mode is None:
        spec.completion_mode = "NonIndexed"
    if spec.suspend is None:
        spec.suspend = False
    default_pod_template(spec.template)


def _cron_job(obj: CronJob) -> None:
    default_cron_job(obj)
    default_job_spec(obj.spec.job_template.spec)


def _service(obj: Service) -> None:
    spec = obj.spec
    if spec.type is None:
        spec.type = "ClusterIP"
    if spec.session_affinity is None:
        spec.session_affinity = "None"
    if spec.type != "ExternalName" and spec.internal_traffic_policy is None:
        spec.internal_traffic_policy = "Cluster"
    if spec.type in ("NodePort", "LoadBalancer") and spec.external_traffic_policy is None:
        spec.external_traffic_policy = "Cluster"
    for port in spec.ports:
        if port.protocol is None:
            port.protocol = "TCP"
        if port.target_port is None:
            port.target_port = port.port


def _namespace(obj: Namespace) -> None:
    if obj.status.phase is None:
        obj.status.phase = "Active"


def _secret(obj: Secret) -> None:
    if obj.type is None:
        obj.type = "Opaque"
    # stringData is write-only: fold it into data (base64) as the Kubernetes API does.
    for key, text in obj.string_data.items():
        obj.data[key] = base64.b64encode(text.encode()).decode()
    obj.string_data = {}


def _persistent_volume(obj: PersistentVolume) -> None:
    """Kubernetes' defaults: a static volume is kept (Retain) unless it says otherwise."""
    obj.spec.persistent_volume_reclaim_policy = obj.spec.persistent_volume_reclaim_policy or "Retain"
    obj.spec.volume_mode = obj.spec.volume_mode or "Filesystem"


def _claim(obj: PersistentVolumeClaim) -> None:
    obj.spec.volume_mode = obj.spec.volume_mode or "Filesystem"


def _storage_class(obj: StorageClass) -> None:
    obj.reclaim_policy = obj.reclaim_policy or "Delete"
    obj.volume_binding_mode = obj.volume_binding_mode or "Immediate"


def _budget(obj: PodDisruptionBudget) -> None:
    if obj.spec.min_available is None and obj.spec.max_unavailable is None:
        obj.spec.min_available = 1  # what an empty budget means here (see controllers/disruption/plan.py)


_DEFAULTERS: dict[type[Resource], Callable[..., None]] = {
    Pod: _pod, Deployment: _deployment, ReplicaSet: _replica_set, DaemonSet: _daemon_set,
    StatefulSet: _stateful_set, Job: _job, Service: _service, Namespace: _namespace, Secret: _secret,
    CronJob: _cron_job, LimitRange: default_limit_range, PersistentVolume: _persistent_volume,
    PersistentVolumeClaim: _claim, StorageClass: _storage_class, PodDisruptionBudget: _budget,
    HorizontalPodAutoscaler: default_hpa,
}


def apply_defaults(obj: Resource) -> None:
    """Fill unset fields in place (idempotent); kinds without defaults are left alone."""
    fn = _DEFAULTERS.get(type(obj))
    if fn is not None:
        fn(obj)

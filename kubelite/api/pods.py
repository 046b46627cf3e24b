"""Pod, PodSpec, PodStatus, volumes and scheduling constraints (core/v1)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kubelite.api.base import Int32, Int64, KubeModel, Quantity
from kubelite.api.container import (
    AppArmorProfile,
    Container,
    SeccompProfile,
    SELinuxOptions,
    WindowsSecurityContextOptions,
)
from kubelite.api.meta import LabelSelector, LocalObjectReference, ObjectMeta, Resource

# --- volumes ----------------------------------------------------------------------


class KeyToPath(KubeModel):
    key: str
    path: str
    mode: Int32 | None = None


class EmptyDirVolumeSource(KubeModel):
    medium: str | None = None
    size_limit: Quantity | None = None


class HostPathVolumeSource(KubeModel):
    path: str
    type: str | None = None


class ConfigMapVolumeSource(KubeModel):
    name: str | None = None
    items: list[KeyToPath] = Field(default_factory=list)
    default_mode: Int32 | None = None
    optional: bool | None = None


class SecretVolumeSource(KubeModel):
    secret_name: str | None = None
    items: list[KeyToPath] = Field(default_factory=list)
    default_mode: Int32 | None = None
    optional: bool | None = None


class PersistentVolumeClaimVolumeSource(KubeModel):
    claim_name: str
    read_only: bool | None = None


class Volume(KubeModel):
    """One volume; exactly one source should be set. Rarer sources are kept loosely typed."""

    name: str
    empty_dir: EmptyDirVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    projected: dict[str, Any] | None = None
    downward_api: dict[str, Any] | None = Field(None, alias="downwardAPI")
    nfs: dict[str, Any] | None = None
    csi: dict[str, Any] | None = None
    ephemeral: dict[str, Any] | None = None
    image: dict[str, Any] | None = None

    def source_names(self) -> list[str]:
        """JSON names of the sources that are set (validation wants exactly one)."""
        fields = type(self).model_fields
        return [fields[n].alias or n for n in fields if n != "name" and getattr(self, n) is not None]


# --- scheduling constraints -------------------------------------------------------


class NodeSelectorRequirement(KubeModel):
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist, Gt, Lt
    values: list[str] = Field(default_factory=list)


class NodeSelectorTerm(KubeModel):
    match_expressions: list[NodeSelectorRequirement] = Field(default_factory=list)
    match_fields: list[NodeSelectorRequirement] = Field(default_factory=list)


class NodeSelector(KubeModel):
    node_selector_terms: list[NodeSelectorTerm] = Field(default_factory=list)


class PreferredSchedulingTerm(KubeModel):
    weight: Int32
    preference: NodeSelectorTerm


class NodeAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(
        default_factory=list
    )


class PodAffinityTerm(KubeModel):
    label_selector: LabelSelector | None = None
    namespaces: list[str] = Field(default_factory=list)
    topology_key: str
    namespace_selector: LabelSelector | None = None
    match_label_keys: list[str] = Field(default_factory=list)
    mismatch_label_keys: list[str] = Field(default_factory=list)


class WeightedPodAffinityTerm(KubeModel):
    weight: Int32
    pod_affinity_term: PodAffinityTerm


class PodAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = Field(default_factory=list)
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = Field(
        default_factory=list
    )


class PodAntiAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = Field(default_factory=list)
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = Field(
        default_factory=list
    )


class Affinity(KubeModel):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAntiAffinity | None = None


class Toleration(KubeModel):
    key: str | None = None
    operator: str | None = None  # Exists or Equal (default)
    value: str | None = None
    effect: str | None = None  # NoSchedule, PreferNoSchedule, NoExecute; None = all
    toleration_seconds: Int64 | None = None


class TopologySpreadConstraint(KubeModel):
    max_skew: Int32
    topology_key: str
    when_unsatisfiable: str
    label_selector: LabelSelector | None = None
    min_domains: Int32 | None = None
    node_affinity_policy: str | None = None
    node_taints_policy: str | None = None
    match_label_keys: list[str] = Field(default_factory=list)


# --- pod-level settings -----------------------------------------------------------


class Sysctl(KubeModel):
    name: str
    value: str


class PodSecurityContext(KubeModel):
    se_linux_options: SELinuxOptions | None = None
    windows_options: WindowsSecurityContextOptions | None = None
    run_as_user: Int64 | None = None
    run_as_group: Int64 | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: list[int] = Field(default_factory=list)
    supplemental_groups_policy: str | None = None
    fs_group: Int64 | None = None
    fs_group_change_policy: str | None = None
    sysctls: list[Sysctl] = Field(default_factory=list)
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None
    se_linux_change_policy: str | None = None


class HostAlias(KubeModel):
    ip: str
    hostnames: list[str] = Field(default_factory=list)


class PodDNSConfigOption(KubeModel):
    name: str | None = None
    value: str | None = None


class PodDNSConfig(KubeModel):
    nameservers: list[str] = Field(default_factory=list)
    searches: list[str] = Field(default_factory=list)
    options: list[PodDNSConfigOption] = Field(default_factory=list)


class PodReadinessGate(KubeModel):
    condition_type: str


class PodOS(KubeModel):
    name: str


class PodSpec(KubeModel):
    shared_validator = True  # in every kind / every pod template: built once (see KubeModel)

    volumes: list[Volume] = Field(default_factory=list)
    init_containers: list[Container] = Field(default_factory=list)
    containers: list[Container] = Field(default_factory=list)
    restart_policy: str | None = None  # Always (default), OnFailure, Never
    termination_grace_period_seconds: Int64 | None = None
    active_deadline_seconds: Int64 | None = None
    dns_policy: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    service_account_name: str | None = None
    service_account: str | None = None
    automount_service_account_token: bool | None = None
    node_name: str | None = None
    host_network: bool | None = None
    host_pid: bool | None = None
    host_ipc: bool | None = None
    share_process_namespace: bool | None = None
    security_context: PodSecurityContext | None = None
    image_pull_secrets: list[LocalObjectReference] = Field(default_factory=list)
    hostname: str | None = None
    subdomain: str | None = None
    set_hostname_as_fqdn: bool | None = Field(None, alias="setHostnameAsFQDN")
    affinity: Affinity | None = None
    scheduler_name: str | None = None
    tolerations: list[Toleration] = Field(default_factory=list)
    host_aliases: list[HostAlias] = Field(default_factory=list)
    priority_class_name: str | None = None
    priority: Int32 | None = None
    preemption_policy: str | None = None
    dns_config: PodDNSConfig | None = None
    readiness_gates: list[PodReadinessGate] = Field(default_factory=list)
    runtime_class_name: str | None = None
    enable_service_links: bool | None = None
    overhead: dict[str, Quantity] = Field(default_factory=dict)
    topology_spread_constraints: list[TopologySpreadConstraint] = Field(default_factory=list)
    os: PodOS | None = None
    host_users: bool | None = None

    def all_containers(self) -> list[Container]:
        """Init containers then regular containers (for per-container checks)."""
        return [*self.init_containers, *self.containers]


# --- status -----------------------------------------------------------------------


class PodCondition(KubeModel):
    type: str  # PodScheduled, Initialized, ContainersReady, Ready, ...
    status: str  # "True", "False", "Unknown"
    observed_generation: Int64 | None = None
    last_probe_time: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class ContainerStateWaiting(KubeModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(KubeModel):
    started_at: str | None = None


class ContainerStateTerminated(KubeModel):
    exit_code: Int32 = 0
    signal: Int32 | None = None
    reason: str | None = None
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    container_id: str | None = None


class ContainerState(KubeModel):
    """At most one of waiting/running/terminated is set; an empty state means waiting."""

    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(KubeModel):
    name: str
    state: ContainerState = Field(default_factory=ContainerState)
    last_state: ContainerState = Field(default_factory=ContainerState)
    ready: bool = False
    restart_count: Int32 = 0
    image: str = ""
    image_id: str = ""
    container_id: str | None = None
    started: bool | None = None
    allocated_resources: dict[str, Quantity] = Field(default_factory=dict)
    resources: dict[str, Any] | None = None
    user: dict[str, Any] | None = None
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list)
    stop_signal: str | None = None


class PodIP(KubeModel):
    ip: str


class HostIP(KubeModel):
    ip: str


class PodStatus(KubeModel):
    observed_generation: Int64 | None = None
    phase: str | None = None  # Pending, Running, Succeeded, Failed, Unknown
    conditions: list[PodCondition] = Field(default_factory=list)
    message: str | None = None
    reason: str | None = None
    nominated_node_name: str | None = None
    host_ip: str | None = None
    host_ips: list[HostIP] = Field(default_factory=list)
    pod_ip: str | None = None
    pod_ips: list[PodIP] = Field(default_factory=list)
    start_time: str | None = None
    init_container_statuses: list[ContainerStatus] = Field(default_factory=list)
    container_statuses: list[ContainerStatus] = Field(default_factory=list)
    ephemeral_container_statuses: list[ContainerStatus] = Field(default_factory=list)
    qos_class: str | None = None
    resize: str | None = None


class Pod(Resource):
    api_version: str = "v1"
    kind: str = "Pod"
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)


class PodTemplateSpec(KubeModel):
    """The pod a controller stamps out: metadata (labels) + spec."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)

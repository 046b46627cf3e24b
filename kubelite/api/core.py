"""The other core/v1 kinds (Service, Endpoints, Node, Namespace, ConfigMap, Secret, Event)
and coordination.k8s.io/v1 Lease."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kubelite.api.base import Int32, Int64, IntOrString, KubeModel, Quantity
from kubelite.api.meta import Condition, ObjectReference, Resource

# --- Service ----------------------------------------------------------------------


class ServicePort(KubeModel):
    name: str | None = None
    protocol: str | None = None  # TCP (default), UDP, SCTP
    app_protocol: str | None = None
    port: Int32
    target_port: IntOrString | None = None  # defaults to port
    node_port: Int32 | None = None


class ClientIPConfig(KubeModel):
    timeout_seconds: Int32 | None = None


class SessionAffinityConfig(KubeModel):
    client_ip: ClientIPConfig | None = None


class ServiceSpec(KubeModel):
    type: str | None = None  # ClusterIP (default), NodePort, LoadBalancer, ExternalName
    selector: dict[str, str] = Field(default_factory=dict)
    ports: list[ServicePort] = Field(default_factory=list)
    cluster_ip: str | None = None  # "None" = headless
    cluster_ips: list[str] = Field(default_factory=list)
    external_ips: list[str] = Field(default_factory=list)
    session_affinity: str | None = None  # None (default) or ClientIP
    session_affinity_config: SessionAffinityConfig | None = None
    load_balancer_ip: str | None = None
    load_balancer_source_ranges: list[str] = Field(default_factory=list)
    load_balancer_class: str | None = None
    allocate_load_balancer_node_ports: bool | None = None
    external_name: str | None = None
    external_traffic_policy: str | None = None
    internal_traffic_policy: str | None = None
    health_check_node_port: Int32 | None = None
    publish_not_ready_addresses: bool | None = None
    ip_families: list[str] = Field(default_factory=list)
    ip_family_policy: str | None = None
    traffic_distribution: str | None = None


class PortStatus(KubeModel):
    port: Int32
    protocol: str
    error: str | None = None


class LoadBalancerIngress(KubeModel):
    ip: str | None = None
    hostname: str | None = None
    ip_mode: str | None = None
    ports: list[PortStatus] = Field(default_factory=list)


class LoadBalancerStatus(KubeModel):
    ingress: list[LoadBalancerIngress] = Field(default_factory=list)


class ServiceStatus(KubeModel):
    load_balancer: LoadBalancerStatus = Field(default_factory=LoadBalancerStatus)
    conditions: list[Condition] = Field(default_factory=list)


class Service(Resource):
    api_version: str = "v1"
    kind: str = "Service"
    spec: ServiceSpec = Field(default_factory=ServiceSpec)
    status: ServiceStatus = Field(default_factory=ServiceStatus)


# --- Endpoints --------------------------------------------------------------------


class EndpointAddress(KubeModel):
    ip: str
    hostname: str | None = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


class EndpointPort(KubeModel):
    name: str | None = None
    port: Int32
    protocol: str | None = None
    app_protocol: str | None = None


class EndpointSubset(KubeModel):
    addresses: list[EndpointAddress] = Field(default_factory=list)
    not_ready_addresses: list[EndpointAddress] = Field(default_factory=list)
    ports: list[EndpointPort] = Field(default_factory=list)


class Endpoints(Resource):
    api_version: str = "v1"
    kind: str = "Endpoints"
    subsets: list[EndpointSubset] = Field(default_factory=list)


# --- Node -------------------------------------------------------------------------


class Taint(KubeModel):
    key: str
    value: str | None = None
    effect: str  # NoSchedule, PreferNoSchedule, NoExecute
    time_added: str | None = None


class NodeSpec(KubeModel):
    pod_cidr: str | None = None
    pod_cidrs: list[str] = Field(default_factory=list)
    provider_id: str | None = None
    unschedulable: bool | None = None
    taints: list[Taint] = Field(default_factory=list)
    config_source: dict[str, Any] | None = None
    external_id: str | None = None


class NodeCondition(KubeModel):
    type: str  # Ready, MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable
    status: str
    last_heartbeat_time: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class NodeAddress(KubeModel):
    type: str  # InternalIP, ExternalIP, Hostname
    address: str


class DaemonEndpoint(KubeModel):
    port: Int32 = Field(0, alias="Port")  # Kubernetes spells this one with a capital P


class NodeDaemonEndpoints(KubeModel):
    kubelet_endpoint: DaemonEndpoint | None = None


class NodeSystemInfo(KubeModel):
    machine_id: str = ""
    system_uuid: str = ""
    boot_id: str = ""
    kernel_version: str = ""
    os_image: str = ""
    container_runtime_version: str = ""
    kubelet_version: str = ""
    kube_proxy_version: str = ""
    operating_system: str = ""
    architecture: str = ""
    swap: dict[str, Any] | None = None


class ContainerImage(KubeModel):
    names: list[str] = Field(default_factory=list)
    size_bytes: Int64 | None = None


class AttachedVolume(KubeModel):
    name: str
    device_path: str


class NodeStatus(KubeModel):
    capacity: dict[str, Quantity] = Field(default_factory=dict)
    allocatable: dict[str, Quantity] = Field(default_factory=dict)
    phase: str | None = None
    conditions: list[NodeCondition] = Field(default_factory=list)
    addresses: list[NodeAddress] = Field(default_factory=list)
    daemon_endpoints: NodeDaemonEndpoints | None = None
    node_info: NodeSystemInfo | None = None
    images: list[ContainerImage] = Field(default_factory=list)
    volumes_in_use: list[str] = Field(default_factory=list)
    volumes_attached: list[AttachedVolume] = Field(default_factory=list)
    config: dict[str, Any] | None = None
    runtime_handlers: list[dict[str, Any]] = Field(default_factory=list)
    features: dict[str, Any] | None = None


class Node(Resource):
    api_version: str = "v1"
    kind: str = "Node"
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)

    def internal_ip(self) -> str | None:
        """The address the apiserver uses to reach this node's kubelet."""
        return next((a.address for a in self.status.addresses if a.type == "InternalIP"), None)

    def kubelet_port(self) -> int | None:
        ep = self.status.daemon_endpoints
        return ep.kubelet_endpoint.port if ep and ep.kubelet_endpoint else None


# --- Namespace, ConfigMap, Secret -------------------------------------------------


class NamespaceSpec(KubeModel):
    finalizers: list[str] = Field(default_factory=list)


class NamespaceCondition(KubeModel):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class NamespaceStatus(KubeModel):
    phase: str | None = None  # Active, Terminating
    conditions: list[NamespaceCondition] = Field(default_factory=list)


class Namespace(Resource):
    api_version: str = "v1"
    kind: str = "Namespace"
    spec: NamespaceSpec = Field(default_factory=NamespaceSpec)
    status: NamespaceStatus = Field(default_factory=NamespaceStatus)


class ConfigMap(Resource):
    api_version: str = "v1"
    kind: str = "ConfigMap"
    data: dict[str, str] = Field(default_factory=dict)
    binary_data: dict[str, str] = Field(default_factory=dict)  # base64
    immutable: bool | None = None


class Secret(Resource):
    api_version: str = "v1"
    kind: str = "Secret"
    type: str | None = None  # Opaque (default), kubernetes.io/tls, ...
    data: dict[str, str] = Field(default_factory=dict)  # base64 values
    string_data: dict[str, str] = Field(default_factory=dict)  # write-only convenience
    immutable: bool | None = None


# --- Event ------------------------------------------------------------------------


class EventSource(KubeModel):
    component: str | None = None
    host: str | None = None


class EventSeries(KubeModel):
    count: Int32 | None = None
    last_observed_time: str | None = None


class Event(Resource):
    api_version: str = "v1"
    kind: str = "Event"
    involved_object: ObjectReference = Field(default_factory=ObjectReference)
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    count: Int32 | None = None
    type: str | None = None  # Normal, Warning
    event_time: str | None = None
    series: EventSeries | None = None
    action: str | None = None
    related: ObjectReference | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None


# --- Lease ------------------------------------------------------------------------


class LeaseSpec(KubeModel):
    holder_identity: str | None = None
    lease_duration_seconds: Int32 | None = None
    acquire_time: str | None = None  # RFC 3339 with microseconds (api.now_micro)
    renew_time: str | None = None
    lease_transitions: Int32 | None = None
    strategy: str | None = None
    preferred_holder: str | None = None


class Lease(Resource):
    api_version: str = "coordination.k8s.io/v1"
    kind: str = "Lease"
    spec: LeaseSpec = Field(default_factory=LeaseSpec)

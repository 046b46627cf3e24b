"""autoscaling/v2 HorizontalPodAutoscaler: its model, defaults and validation.

Why v2 is the stored form: it can say everything v1 can (v1's one CPU target is a
v2 Resource metric), so `autoscaling/v1` objects are converted to it on the way in
and back on the way out (`kubelite.api.hpaconvert`), and the controller reads one shape.

Why Pods, Object, External and ContainerResource metrics are modelled at all: a
manifest carrying one must be refused with a message naming the field
(kubelite's metrics API serves only pod and node resource usage), not with
"unknown field" and never by storing a metric nobody would act on.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kubelite.api.base import Int32, KubeModel, Quantity
from kubelite.api.errors import StatusCause
from kubelite.api.meta import Resource
from kubelite.api.names import dns1123_subdomain_error
from kubelite.api.quantity import is_valid, parse_quantity

GROUP_VERSION = "autoscaling/v2"
SCALABLE_KINDS = {"Deployment": "deployments", "ReplicaSet": "replicasets", "StatefulSet": "statefulsets"}
SUPPORTED_RESOURCES = ("cpu", "memory")
UNSUPPORTED_METRICS = ("Pods", "Object", "External", "ContainerResource")
POLICY_TYPES = ("Pods", "Percent")
SELECT_POLICIES = ("Max", "Min", "Disabled")
DEFAULT_CPU_UTILIZATION = 80
MAX_STABILIZATION_SECONDS = 3600
MAX_PERIOD_SECONDS = 1800


class CrossVersionObjectReference(KubeModel):
    api_version: str | None = None
    kind: str = ""
    name: str = ""


class MetricTarget(KubeModel):
    type: str = ""  # Utilization, AverageValue or Value
    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: Int32 | None = None


class ResourceMetricSource(KubeModel):
    name: str = ""
    target: MetricTarget = Field(default_factory=MetricTarget)


class MetricSpec(KubeModel):
    type: str = ""
    resource: ResourceMetricSource | None = None
    # Accepted only to be refused by validation with a clear message (see the module docstring).
    pods: dict[str, Any] | None = None
    object: dict[str, Any] | None = None
    external: dict[str, Any] | None = None
    container_resource: dict[str, Any] | None = None


class HPAScalingPolicy(KubeModel):
    type: str = ""
    value: Int32 = 0
    period_seconds: Int32 = 0


class HPAScalingRules(KubeModel):
    stabilization_window_seconds: Int32 | None = None
    select_policy: str | None = None
    policies: list[HPAScalingPolicy] = Field(default_factory=list)


class HorizontalPodAutoscalerBehavior(KubeModel):
    scale_up: HPAScalingRules | None = None
    scale_down: HPAScalingRules | None = None


class HorizontalPodAutoscalerSpec(KubeModel):
    scale_target_ref: CrossVersionObjectReference = Field(default_factory=CrossVersionObjectReference)
    min_replicas: Int32 | None = None
    max_replicas: Int32 = 0
    metrics: list[MetricSpec] = Field(default_factory=list)
    behavior: HorizontalPodAutoscalerBehavior | None = None


class MetricValueStatus(KubeModel):
    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: Int32 | None = None


class ResourceMetricStatus(KubeModel):
    name: str = ""
    current: MetricValueStatus = Field(default_factory=MetricValueStatus)


class MetricStatus(KubeModel):
    type: str = ""
    resource: ResourceMetricStatus | None = None


class HorizontalPodAutoscalerCondition(KubeModel):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class HorizontalPodAutoscalerStatus(KubeModel):
    observed_generation: int | None = None
    last_scale_time: str | None = None
    current_replicas: Int32 = 0
    desired_replicas: Int32 = 0
    current_metrics: list[MetricStatus] = Field(default_factory=list)
    conditions: list[HorizontalPodAutoscalerCondition] = Field(default_factory=list)


class HorizontalPodAutoscaler(Resource):
    """Keeps a Deployment's, ReplicaSet's or StatefulSet's replicas where its pods' resource usage
    meets a target (the hpa controller in the controller-manager acts on it)."""

    api_version: str = GROUP_VERSION
    kind: str = "HorizontalPodAutoscaler"
    spec: HorizontalPodAutoscalerSpec = Field(default_factory=HorizontalPodAutoscalerSpec)
    status: HorizontalPodAutoscalerStatus = Field(default_factory=HorizontalPodAutoscalerStatus)


# --- defaults ------------------------------------------------------------------------


def default_up_rules() -> HPAScalingRules:
    """Kubernetes' scale-up default: no window; +4 pods or +100% per 15 s, whichever is more."""
    return HPAScalingRules(stabilization_window_seconds=0, select_policy="Max", policies=[
        HPAScalingPolicy(type="Pods", value=4, period_seconds=15),
        HPAScalingPolicy(type="Percent", value=100, period_seconds=15)])


def default_down_rules() -> HPAScalingRules:
    """Kubernetes' scale-down default: a 300 s window, then down to any count per 15 s."""
    return HPAScalingRules(stabilization_window_seconds=300, select_policy="Max",
                           policies=[HPAScalingPolicy(type="Percent", value=100, period_seconds=15)])


def _fill_rules(rules: HPAScalingRules | None, default: HPAScalingRules) -> HPAScalingRules:
    if rules is None:
        return default
    if rules.stabilization_window_seconds is None:
        rules.stabilization_window_seconds = default.stabilization_window_seconds
    if rules.select_policy is None:
        rules.select_policy = default.select_policy
    if not rules.policies:
        rules.policies = default.policies
    return rules


def default_hpa(obj: HorizontalPodAutoscaler) -> None:
    """minReplicas 1; no metrics means CPU at 80% of requests; a given `behavior` is completed with
    the defaults of what it leaves out (an absent one stays absent, meaning all defaults)."""
    spec = obj.spec
    if spec.min_replicas is None:
        spec.min_replicas = 1
    if not spec.metrics:
        spec.metrics = [MetricSpec(type="Resource", resource=ResourceMetricSource(
            name="cpu", target=MetricTarget(type="Utilization", average_utilization=DEFAULT_CPU_UTILIZATION)))]
    if spec.behavior is not None:
        spec.behavior.scale_up = _fill_rules(spec.behavior.scale_up, default_up_rules())
        spec.behavior.scale_down = _fill_rules(spec.behavior.scale_down, default_down_rules())


# --- validation ----------------------------------------------------------------------


def _target(t: MetricTarget, at: str, out: list[StatusCause]) -> None:
    if t.type == "Utilization":
        if t.average_utilization is None:
            out.append(StatusCause.required(f"{at}.averageUtilization", "must be set for a Utilization target"))
        elif t.average_utilization < 1:
            out.append(StatusCause.invalid(f"{at}.averageUtilization", t.average_utilization, "must be greater than 0"))
    elif t.type == "AverageValue":
        if t.average_value is None:
            out.append(StatusCause.required(f"{at}.averageValue", "must be set for an AverageValue target"))
        elif not is_valid(t.average_value) or parse_quantity(t.average_value) <= 0:
            out.append(StatusCause.invalid(f"{at}.averageValue", t.average_value, "must be a positive quantity"))
    elif t.type == "Value":
        out.append(StatusCause.invalid(f"{at}.type", t.type, "a Value target is not supported for Resource "
                                       "metrics (use Utilization or AverageValue)"))
    else:
        out.append(StatusCause.not_supported(f"{at}.type", t.type, ["Utilization", "AverageValue"]))


def _metric(m: MetricSpec, at: str, out: list[StatusCause]) -> None:
    if m.type in UNSUPPORTED_METRICS:
        out.append(StatusCause.invalid(f"{at}.type", m.type, "only Resource metrics (cpu, memory) are supported: "
                                       "kubelite's metrics API serves no custom or external metrics"))
        return
    if m.type != "Resource":
        out.append(StatusCause.not_supported(f"{at}.type", m.type, ["Resource"]))
        return
    for name, value in (("pods", m.pods), ("object", m.object), ("external", m.external),
                        ("containerResource", m.container_resource)):
        if value is not None:
            out.append(StatusCause.forbidden(f"{at}.{name}", "must be empty for a Resource metric"))
    if m.resource is None:
        out.append(StatusCause.required(f"{at}.resource", "must be set for a Resource metric"))
        return
    if m.resource.name not in SUPPORTED_RESOURCES:
        out.append(StatusCause.not_supported(f"{at}.resource.name", m.resource.name, SUPPORTED_RESOURCES))
    _target(m.resource.target, f"{at}.resource.target", out)


def _rules(rules: HPAScalingRules | None, at: str, out: list[StatusCause]) -> None:
    if rules is None:
        return
    window = rules.stabilization_window_seconds
    if window is not None and not 0 <= window <= MAX_STABILIZATION_SECONDS:
        out.append(StatusCause.invalid(f"{at}.stabilizationWindowSeconds", window,
                                       f"must be between 0 and {MAX_STABILIZATION_SECONDS}"))
    if rules.select_policy is not None and rules.select_policy not in SELECT_POLICIES:
        out.append(StatusCause.not_supported(f"{at}.selectPolicy", rules.select_policy, SELECT_POLICIES))
    for i, p in enumerate(rules.policies):
        here = f"{at}.policies[{i}]"
        if p.type not in POLICY_TYPES:
            out.append(StatusCause.not_supported(f"{here}.type", p.type, POLICY_TYPES))
        if p.value <= 0:
            out.append(StatusCause.invalid(f"{here}.value", p.value, "must be greater than zero"))
        if not 0 < p.period_seconds <= MAX_PERIOD_SECONDS:
            out.append(StatusCause.invalid(f"{here}.periodSeconds", p.period_seconds,
                                           f"must be greater than zero and at most {MAX_PERIOD_SECONDS}"))


def validate_hpa(obj: HorizontalPodAutoscaler, out: list[StatusCause]) -> None:
    spec = obj.spec
    ref = spec.scale_target_ref
    if not ref.kind:
        out.append(StatusCause.required("spec.scaleTargetRef.kind"))
    elif ref.kind not in SCALABLE_KINDS:
        out.append(StatusCause.not_supported("spec.scaleTargetRef.kind", ref.kind, list(SCALABLE_KINDS)))
    if not ref.name:
        out.append(StatusCause.required("spec.scaleTargetRef.name"))
    elif (err := dns1123_subdomain_error(ref.name)) is not None:
        out.append(StatusCause.invalid("spec.scaleTargetRef.name", ref.name, err))
    minimum = spec.min_replicas if spec.min_replicas is not None else 1
    if minimum < 1:
        out.append(StatusCause.invalid("spec.minReplicas", minimum, "must be greater than or equal to 1"))
    if spec.max_replicas < 1:
        out.append(StatusCause.invalid("spec.maxReplicas", spec.max_replicas, "must be greater than 0"))
    elif spec.max_replicas < minimum:
        out.append(StatusCause.invalid("spec.maxReplicas", spec.max_replicas,
                                       "must be greater than or equal to `minReplicas`"))
    for i, m in enumerate(spec.metrics):
        _metric(m, f"spec.metrics[{i}]", out)
    if spec.behavior is not None:
        _rules(spec.behavior.scale_up, "spec.behavior.scaleUp", out)
        _rules(spec.behavior.scale_down, "spec.behavior.scaleDown", out)

"""Per-kind sections of `kctl describe` (pods, workloads, services, nodes, config, generic).

Some sections need related objects (a Deployment's ReplicaSets, a Service's
Endpoints, a Node's pods); each describer gets the session to fetch them and
degrades to less detail when a lookup fails rather than failing the describe.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

from kubectl.describe import (
    Writer,
    annotation_lines,
    conditions_table,
    controlled_by,
    describe_containers,
    describe_meta,
    describe_template,
    fmt_time,
    kv_lines,
)
from kubectl.printers import (
    NONE,
    as_dict,
    as_list,
    dig,
    endpoints_text,
    node_address,
    node_roles,
    num,
    pod_status,
    selector_text,
)
from kubectl.resources import resolve_kind
from kubectl.session import Obj, Session
from kubelite.api.errors import ApiError

Describer = Callable[[Session, Obj, Writer], Awaitable[None]]


async def _related(session: Session, resource: str, namespace: str | None, selector: str = "",
                   field_selector: str = "") -> list[Obj]:
    try:
        objs, _ = await session.list(resolve_kind(resource), namespace, selector, field_selector)
    except ApiError:
        return []
    return objs


def _owned_by(obj: Obj, owner: Obj) -> bool:
    uid = dig(owner, "metadata", "uid")
    return any(as_dict(r).get("uid") == uid for r in as_list(dig(obj, "metadata", "ownerReferences")))


async def describe_pod(session: Session, pod: Obj, w: Writer) -> None:
    meta, spec, status = as_dict(pod.get("metadata")), as_dict(pod.get("spec")), as_dict(pod.get("status"))
    w.field(0, "Name", meta.get("name"))
    w.field(0, "Namespace", meta.get("namespace"))
    w.field(0, "Priority", spec.get("priority", 0))
    w.field(0, "Service Account", spec.get("serviceAccountName"))
    node = spec.get("nodeName")
    w.field(0, "Node", f"{node}/{status['hostIP']}" if node and status.get("hostIP") else node)
    w.field(0, "Start Time", fmt_time(status.get("startTime")))
    w.items(0, "Labels", kv_lines(meta.get("labels")))
    w.items(0, "Annotations", annotation_lines(meta.get("annotations")))
    shown = pod_status(pod)
    if meta.get("deletionTimestamp"):
        grace = meta.get("deletionGracePeriodSeconds")
        shown = f"Terminating (lasts {grace}s)" if grace is not None else "Terminating"
        w.field(0, "Status", shown)
        w.field(0, "Termination Grace Period", f"{spec.get('terminationGracePeriodSeconds', 30)}s")
    else:
        w.field(0, "Status", status.get("phase") or shown)
    if status.get("reason"):
        w.field(0, "Reason", status.get("reason"))
    if status.get("message"):
        w.field(0, "Message", status.get("message"))
    w.field(0, "IP", status.get("podIP"))
    ips = [str(as_dict(i).get("ip")) for i in as_list(status.get("podIPs"))]
    if ips:
        w.text(0, "IPs:")
        for ip in ips:
            w.field(1, "IP", ip)
    else:
        w.field(0, "IPs", NONE)
    w.field(0, "Controlled By", controlled_by(pod))
    describe_containers(w, 0, "Init Containers", as_list(spec.get("initContainers")),
                        as_list(status.get("initContainerStatuses")))
    describe_containers(w, 0, "Containers", as_list(spec.get("containers")),
                        as_list(status.get("containerStatuses")))
    conditions_table(w, 0, pod)
    w.items(0, "Volumes", [str(as_dict(v).get("name")) for v in as_list(spec.get("volumes"))])
    if status.get("qosClass"):
        w.field(0, "QoS Class", status.get("qosClass"))
    w.items(0, "Node-Selectors", kv_lines(spec.get("nodeSelector")))
    tolerations = [f"{as_dict(t).get('key', '')}:{as_dict(t).get('effect', '')} op={as_dict(t).get('operator', 'Equal')}"
                   for t in as_list(spec.get("tolerations"))]
    w.items(0, "Tolerations", tolerations)


def _replicas_line(spec_replicas: Any, st: Obj) -> str:
    desired = num(spec_replicas) if spec_replicas is not None else 1
    total, updated = num(st.get("replicas")), num(st.get("updatedReplicas"))
    available = num(st.get("availableReplicas"))
    unavailable = num(st.get("unavailableReplicas")) or max(0, total - available)
    return (f"{desired} desired | {updated} updated | {total} total | {available} available | "
            f"{unavailable} unavailable")


def _revision(rs: Obj) -> int:
    try:
        return int(as_dict(dig(rs, "metadata", "annotations")).get("deployment.kubernetes.io/revision", 0))
    except (TypeError, ValueError):
        return 0


async def describe_deployment(session: Session, d: Obj, w: Writer) -> None:
    spec, st = as_dict(d.get("spec")), as_dict(d.get("status"))
    describe_meta(w, d)
    w.field(0, "CreationTimestamp", fmt_time(dig(d, "metadata", "creationTimestamp")))
    w.field(0, "Selector", selector_text(spec.get("selector")))
    w.field(0, "Replicas", _replicas_line(spec.get("replicas"), st))
    strategy = as_dict(spec.get("strategy"))
    w.field(0, "StrategyType", strategy.get("type") or "RollingUpdate")
    w.field(0, "MinReadySeconds", spec.get("minReadySeconds", 0))
    rolling = as_dict(strategy.get("rollingUpdate"))
    if (strategy.get("type") or "RollingUpdate") == "RollingUpdate":
        w.field(0, "RollingUpdateStrategy", f"{rolling.get('maxUnavailable', '25%')} max unavailable, "
                                            f"{rolling.get('maxSurge', '25%')} max surge")
    describe_template(w, 0, spec.get("template"))
    conditions_table(w, 0, d, extra=True)
    namespace = str(dig(d, "metadata", "namespace") or session.namespace)
    sets = [rs for rs in await _related(session, "replicasets", namespace, selector_text(spec.get("selector")))
            if _owned_by(rs, d)]
    sets.sort(key=_revision)
    new = sets[-1:] if sets else []
    old = [rs for rs in sets[:-1] if num(dig(rs, "spec", "replicas")) or num(dig(rs, "status", "replicas"))]

    def label(rs: Obj) -> str:
        return (f"{dig(rs, 'metadata', 'name')} ({num(dig(rs, 'status', 'replicas'))}/"
                f"{num(dig(rs, 'spec', 'replicas'))} replicas created)")
    w.field(0, "OldReplicaSets", ", ".join(label(rs) for rs in old) or NONE)
    w.field(0, "NewReplicaSet", ", ".join(label(rs) for rs in new) or NONE)


async def describe_replicaset(session: Session, rs: Obj, w: Writer) -> None:
    spec, st = as_dict(rs.get("spec")), as_dict(rs.get("status"))
    w.field(0, "Name", dig(rs, "metadata", "name"))
    w.field(0, "Namespace", dig(rs, "metadata", "namespace"))
    w.field(0, "Selector", selector_text(spec.get("selector")))
    w.items(0, "Labels", kv_lines(dig(rs, "metadata", "labels")))
    w.items(0, "Annotations", annotation_lines(dig(rs, "metadata", "annotations")))
    w.field(0, "Controlled By", controlled_by(rs))
    desired = num(spec.get("replicas")) if spec.get("replicas") is not None else 1
    w.field(0, "Replicas", f"{num(st.get('replicas'))} current / {desired} desired")
    namespace = str(dig(rs, "metadata", "namespace") or session.namespace)
    pods = [p for p in await _related(session, "pods", namespace, selector_text(spec.get("selector")))
            if _owned_by(p, rs)]
    phases = [str(dig(p, "status", "phase") or "Pending") for p in pods]
    w.field(0, "Pods Status", f"{phases.count('Running')} Running / {phases.count('Pending')} Waiting / "
                              f"{phases.count('Succeeded')} Succeeded / {phases.count('Failed')} Failed")
    describe_template(w, 0, spec.get("template"))
    conditions_table(w, 0, rs, extra=True)


async def describe_service(session: Session, svc: Obj, w: Writer) -> None:
    spec = as_dict(svc.get("spec"))
    describe_meta(w, svc)
    w.items(0, "Selector", kv_lines(spec.get("selector")))
    w.field(0, "Type", spec.get("type") or "ClusterIP")
    w.field(0, "IP", spec.get("clusterIP"))
    for port in as_list(spec.get("ports")):
        p = as_dict(port)
        proto = p.get("protocol") or "TCP"
        w.field(0, "Port", f"{p.get('name') or '<unset>'}  {p.get('port')}/{proto}")
        w.field(0, "TargetPort", f"{p.get('targetPort', p.get('port'))}/{proto}")
        if p.get("nodePort"):
            w.field(0, "NodePort", f"{p.get('name') or '<unset>'}  {p['nodePort']}/{proto}")
    name = str(dig(svc, "metadata", "name"))
    namespace = str(dig(svc, "metadata", "namespace") or session.namespace)
    endpoints = await _related(session, "endpoints", namespace, field_selector=f"metadata.name={name}")
    w.field(0, "Endpoints", endpoints_text(endpoints[0], limit=10) if endpoints else NONE)
    w.field(0, "Session Affinity", spec.get("sessionAffinity") or "None")


async def describe_node(session: Session, node: Obj, w: Writer) -> None:
    spec, st = as_dict(node.get("spec")), as_dict(node.get("status"))
    w.field(0, "Name", dig(node, "metadata", "name"))
    w.field(0, "Roles", node_roles(node))
    w.items(0, "Labels", kv_lines(dig(node, "metadata", "labels")))
    w.items(0, "Annotations", annotation_lines(dig(node, "metadata", "annotations")))
    w.field(0, "CreationTimestamp", fmt_time(dig(node, "metadata", "creationTimestamp")))
    taints = [f"{as_dict(t).get('key')}" + (f"={as_dict(t)['value']}" if as_dict(t).get("value") else "")
              + f":{as_dict(t).get('effect')}" for t in as_list(spec.get("taints"))]
    w.items(0, "Taints", taints)
    w.field(0, "Unschedulable", "true" if spec.get("unschedulable") else "false")
    conditions = [as_dict(c) for c in as_list(st.get("conditions"))]
    if conditions:
        w.text(0, "Conditions:")
        rows = [[str(c.get("type", "")), str(c.get("status", "")), fmt_time(c.get("lastHeartbeatTime")),
                 fmt_time(c.get("lastTransitionTime")), str(c.get("reason") or ""), str(c.get("message") or "")]
                for c in conditions]
        w.table(1, ["Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message"], rows,
                underline=True)
    w.text(0, "Addresses:")
    for addr in as_list(st.get("addresses")):
        w.field(1, str(as_dict(addr).get("type")), as_dict(addr).get("address"))
    for label, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        values = as_dict(st.get(key))
        if values:
            w.text(0, f"{label}:")
            for name, qty in sorted(values.items()):
                w.field(1, name, qty)
    info = as_dict(st.get("nodeInfo"))
    if info:
        w.text(0, "System Info:")
        for key, value in info.items():
            w.field(1, key[:1].upper() + key[1:], value)
    w.field(0, "PodCIDR", spec.get("podCIDR"))
    w.field(0, "InternalIP", node_address(node, "InternalIP"))
    name = str(dig(node, "metadata", "name"))
    pods = [p for p in await _related(session, "pods", None, field_selector=f"spec.nodeName={name}")
            if dig(p, "status", "phase") not in ("Succeeded", "Failed")]
    w.text(0, f"Non-terminated Pods:  ({len(pods)} in total)")
    if pods:
        rows = []
        for p in pods:
            requests: dict[str, str] = {}
            for c in as_list(dig(p, "spec", "containers")):
                for res, qty in as_dict(dig(c, "resources", "requests")).items():
                    requests[res] = str(qty) if res not in requests else f"{requests[res]}+{qty}"
            rows.append([str(dig(p, "metadata", "namespace")), str(dig(p, "metadata", "name")),
                         requests.get("cpu", "0"), requests.get("memory", "0"), pod_status(p)])
        w.table(1, ["Namespace", "Name", "CPU Requests", "Memory Requests", "Status"], rows, underline=True)


async def describe_namespace(session: Session, ns: Obj, w: Writer) -> None:
    describe_meta(w, ns, namespaced=False)
    w.field(0, "Status", dig(ns, "status", "phase") or "Active")


async def describe_configmap(session: Session, cm: Obj, w: Writer) -> None:
    describe_meta(w, cm)
    w.text(0, "")
    w.text(0, "Data")
    w.text(0, "====")
    for key, value in sorted(as_dict(cm.get("data")).items()):
        w.text(0, f"{key}:")
        w.text(0, "----")
        w.text(0, str(value))
        w.text(0, "")
    w.text(0, "")
    w.text(0, "BinaryData")
    w.text(0, "====")
    for key, value in sorted(as_dict(cm.get("binaryData")).items()):
        w.text(0, f"{key}: {len(str(value)) * 3 // 4} bytes")
    w.text(0, "")


async def describe_secret(session: Session, secret: Obj, w: Writer) -> None:
    describe_meta(w, secret)
    w.text(0, "")
    w.field(0, "Type", secret.get("type") or "Opaque")
    w.text(0, "")
    w.text(0, "Data")
    w.text(0, "====")
    for key, value in sorted(as_dict(secret.get("data")).items()):
        try:
            size = len(base64.b64decode(str(value), validate=True))
        except (binascii.Error, ValueError):
            size = len(str(value))
        w.field(0, key, f"{size} bytes")


async def describe_endpoints(session: Session, ep: Obj, w: Writer) -> None:
    describe_meta(w, ep)
    w.text(0, "Subsets:")
    for subset in as_list(ep.get("subsets")):
        s = as_dict(subset)
        w.field(1, "Addresses", ",".join(str(as_dict(a).get("ip")) for a in as_list(s.get("addresses"))) or NONE)
        w.field(1, "NotReadyAddresses",
                ",".join(str(as_dict(a).get("ip")) for a in as_list(s.get("notReadyAddresses"))) or NONE)
        ports = [[str(as_dict(p).get("name") or "<unset>"), str(as_dict(p).get("port")),
                  str(as_dict(p).get("protocol") or "TCP")] for p in as_list(s.get("ports"))]
        if ports:
            w.text(1, "Ports:")
            w.table(2, ["Name", "Port", "Protocol"], ports, underline=True)


async def describe_resourcequota(session: Session, quota: Obj, w: Writer) -> None:
    """kubectl's layout: the quota's resources with used and hard side by side."""
    describe_meta(w, quota)
    hard = as_dict(dig(quota, "status", "hard")) or as_dict(dig(quota, "spec", "hard"))
    used = as_dict(dig(quota, "status", "used"))
    rows = [[name, str(used.get(name, "0")), str(value)] for name, value in sorted(hard.items())]
    w.table(0, ["Resource", "Used", "Hard"], rows, underline=True)


async def describe_limitrange(session: Session, lr: Obj, w: Writer) -> None:
    """kubectl's layout: one row per type and resource with each bound."""
    describe_meta(w, lr)
    rows = []
    for item in as_list(dig(lr, "spec", "limits")):
        item = as_dict(item)
        sections = [as_dict(item.get(k)) for k in ("min", "max", "defaultRequest", "default", "maxLimitRequestRatio")]
        for name in sorted({n for section in sections for n in section}):
            rows.append([str(item.get("type", "")), name, *(str(section.get(name, "-")) for section in sections)])
    w.table(0, ["Type", "Resource", "Min", "Max", "Default Request", "Default Limit", "Max Limit/Request Ratio"],
            rows, underline=True)


def _hpa_metric_lines(hpa: Obj) -> list[tuple[str, str]]:
    current = {str(dig(m, "resource", "name")): as_dict(dig(m, "resource", "current"))
               for m in as_list(dig(hpa, "status", "currentMetrics"))}
    lines = []
    for m in as_list(dig(hpa, "spec", "metrics")):
        name, target = str(dig(m, "resource", "name")), as_dict(dig(m, "resource", "target"))
        now = current.get(name, {})
        if target.get("type") == "Utilization":
            value = "<unknown>" if now.get("averageUtilization") is None else \
                f"{now['averageUtilization']}% ({now.get('averageValue', '')})"
            lines.append((f"resource {name} on pods  (as a percentage of request)",
                          f"{value} / {target.get('averageUtilization')}%"))
        else:
            lines.append((f"resource {name} on pods", f"{now.get('averageValue', '<unknown>')} / "
                                                      f"{target.get('averageValue')}"))
    return lines


async def describe_hpa(session: Session, hpa: Obj, w: Writer) -> None:
    """kubectl's layout: reference, each metric as `current / target`, bounds, replicas, conditions."""
    spec, st = as_dict(hpa.get("spec")), as_dict(hpa.get("status"))
    describe_meta(w, hpa)
    w.field(0, "CreationTimestamp", fmt_time(dig(hpa, "metadata", "creationTimestamp")))
    ref = as_dict(spec.get("scaleTargetRef"))
    w.field(0, "Reference", f"{ref.get('kind')}/{ref.get('name')}")
    w.field(0, "Metrics", "( current / target )")
    for label, value in _hpa_metric_lines(hpa):
        w.field(1, label, value)
    w.field(0, "Min replicas", spec.get("minReplicas", 1))
    w.field(0, "Max replicas", spec.get("maxReplicas"))
    w.field(0, f"{ref.get('kind')} pods", f"{num(st.get('currentReplicas'))} current / "
                                          f"{num(st.get('desiredReplicas'))} desired")
    conditions = [as_dict(c) for c in as_list(st.get("conditions"))]
    if conditions:
        w.text(0, "Conditions:")
        w.table(1, ["Type", "Status", "Reason", "Message"],
                [[str(c.get(k) or "") for k in ("type", "status", "reason", "message")] for c in conditions],
                underline=True)


def _generic_fields(w: Writer, level: int, value: Any) -> None:
    for key, item in as_dict(value).items():
        label = key[:1].upper() + key[1:]
        if isinstance(item, dict):
            w.text(level, f"{label}:")
            _generic_fields(w, level + 1, item)
        elif isinstance(item, list):
            w.text(level, f"{label}:")
            for element in item:
                if isinstance(element, dict):
                    _generic_fields(w, level + 1, element)
                else:
                    w.text(level + 1, str(element))
        else:
            w.field(level, label, item)


async def describe_generic(session: Session, obj: Obj, w: Writer) -> None:
    """Any other kind: metadata, then every other top-level field as nested key/values."""
    namespaced = bool(dig(obj, "metadata", "namespace"))
    describe_meta(w, obj, namespaced=namespaced)
    w.field(0, "API Version", obj.get("apiVersion"))
    w.field(0, "Kind", obj.get("kind"))
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    _generic_fields(w, 0, rest)


DESCRIBERS: dict[str, Describer] = {
    "Pod": describe_pod,
    "Deployment": describe_deployment,
    "ReplicaSet": describe_replicaset,
    "Service": describe_service,
    "Node": describe_node,
    "Namespace": describe_namespace,
    "ConfigMap": describe_configmap,
    "Secret": describe_secret,
    "Endpoints": describe_endpoints,
    "ResourceQuota": describe_resourcequota,
    "LimitRange": describe_limitrange,
    "HorizontalPodAutoscaler": describe_hpa,
}

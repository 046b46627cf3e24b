"""The columns of each kind's table (`kctl get`, and the apiserver's Table output), like kubectl's.

Why here, in the api layer: kctl prints these columns and the apiserver answers
`Accept: application/json;as=Table` with the same ones (Kubernetes computes
tables on the server); one definition keeps both identical.

Why dicts and not models: a printer shows what the server sent, including fields
a newer server may add; working on the JSON keeps printing total (a missing field
shows as `<none>`) instead of failing on a model mismatch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubelite.api.hpacolumns import hpa_row
from kubelite.api.selectors import label_matcher
from kubelite.api.timeutil import parse_time_or_none

Obj = dict[str, Any]
NONE = "<none>"


# ---- time ----------------------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """Durations the way kubectl shows ages: 5s, 119s, 3m12s, 5h, 2d3h, 400d, 3y20d."""
    if seconds < -1:
        return "<invalid>"
    total = max(0, int(seconds))
    if total < 60 * 2:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: Any, now: datetime | None = None) -> str:
    """Age of an object from a timestamp field; `<unknown>` when it has none."""
    now = now or datetime.now(UTC)
    return _age(timestamp, now) if isinstance(timestamp, str) else _age_uncached(timestamp, now)


def _age_uncached(timestamp: Any, now: datetime) -> str:
    when = parse_time_or_none(timestamp)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


# One table's rows share `now`, and objects made together share their timestamp (10,000 pods
# created in a minute have ~60): parsing each once was ~20 ms of `kctl get pods -A`.
_age = functools.lru_cache(maxsize=4096)(_age_uncached)


# ---- small accessors -----------------------------------------------------------------------------

def dig(obj: Any, *path: str | int) -> Any:
    """obj[path0][path1]... or None when any step is missing or of the wrong type."""
    cur = obj
    for step in path:
        if isinstance(step, int):
            if not isinstance(cur, list) or step >= len(cur):
                return None
            cur = cur[step]
        else:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(step)
    return cur


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def num(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def labels_text(labels: Any) -> str:
    items = as_dict(labels)
    return ",".join(f"{k}={v}" for k, v in sorted(items.items())) or NONE


def selector_text(selector: Any) -> str:
    """A LabelSelector (matchLabels + matchExpressions) or a plain map as selector text."""
    sel = as_dict(selector)
    if "matchLabels" not in sel and "matchExpressions" not in sel:
        return labels_text(sel)
    parts = [f"{k}={v}" for k, v in sorted(as_dict(sel.get("matchLabels")).items())]
    for expr in as_list(sel.get("matchExpressions")):
        key, op, values = expr.get("key", ""), expr.get("operator", ""), as_list(expr.get("values"))
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or NONE


def template_containers(obj: Obj) -> tuple[str, str]:
    """CONTAINERS and IMAGES columns of workloads (from spec.template.spec.containers)."""
    containers = as_list(dig(obj, "spec", "template", "spec", "containers"))
    names = ",".join(str(c.get("name", "")) for c in containers if isinstance(c, dict))
    images = ",".join(str(c.get("image", "")) for c in containers if isinstance(c, dict))
    return names or NONE, images or NONE


# ---- pods ----------------------------------------------------------------------------------------

def _terminated_reason(term: dict[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + str(term["reason"])
    if num(term.get("signal")):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{num(term.get('exitCode'))}"


def pod_status(pod: Obj) -> str:
    """The STATUS column: the phase refined by init/container states and deletion, like kubectl."""
    status = as_dict(pod.get("status"))
    reason = str(status.get("reason") or status.get("phase") or "Pending")
    init_statuses = as_list(status.get("initContainerStatuses"))
    init_total = len(as_list(dig(pod, "spec", "initContainers")))
    initializing = False
    for i, cs in enumerate(init_statuses):
        state = as_dict(cs.get("state"))
        term, waiting = as_dict(state.get("terminated")), as_dict(state.get("waiting"))
        if state.get("terminated") is not None and num(term.get("exitCode")) == 0:
            continue
        if state.get("terminated") is not None:
            reason = _terminated_reason(term, "Init:")
        elif waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{init_total or len(init_statuses)}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for cs in reversed(as_list(status.get("containerStatuses"))):
            state = as_dict(cs.get("state"))
            term, waiting = as_dict(state.get("terminated")), as_dict(state.get("waiting"))
            if waiting.get("reason"):
                reason = str(waiting["reason"])
            elif state.get("terminated") is not None:
                reason = _terminated_reason(term)
            elif state.get("running") is not None and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if _condition(status, "Ready") == "True" else "NotReady"
    if dig(pod, "metadata", "deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def _condition(status: dict[str, Any], type_: str) -> str:
    for cond in as_list(status.get("conditions")):
        if isinstance(cond, dict) and cond.get("type") == type_:
            return str(cond.get("status", "Unknown"))
    return ""


def pod_ready(pod: Obj) -> str:
    total = len(as_list(dig(pod, "spec", "containers")))
    ready = sum(1 for cs in as_list(dig(pod, "status", "containerStatuses")) if as_dict(cs).get("ready"))
    return f"{ready}/{total}"


def pod_restarts(pod: Obj, now: datetime | None = None) -> str:
    """Total restarts, plus `(5m ago)` for the latest restart like recent kubectl."""
    total, last = 0, None
    for cs in as_list(dig(pod, "status", "containerStatuses")):
        total += num(as_dict(cs).get("restartCount"))
        finished = parse_time_or_none(dig(cs, "lastState", "terminated", "finishedAt"))
        if finished and (last is None or finished > last):
            last = finished
    if total and last is not None:
        return f"{total} ({age(last.isoformat(), now)} ago)"
    return str(total)


# ---- per-kind tables -----------------------------------------------------------------------------

RowFn = Callable[[Obj, datetime], list[str]]


@dataclass(frozen=True)
class TableSpec:
    columns: list[str]
    row: RowFn
    wide_columns: list[str]
    wide_row: RowFn | None = None


def _created(obj: Obj, now: datetime) -> str:
    return age(dig(obj, "metadata", "creationTimestamp"), now)


def _pod_row(pod: Obj, now: datetime) -> list[str]:
    return [pod_ready(pod), pod_status(pod), pod_restarts(pod, now), _created(pod, now)]


def _pod_wide(pod: Obj, now: datetime) -> list[str]:
    return [str(dig(pod, "status", "podIP") or NONE), str(dig(pod, "spec", "nodeName") or NONE)]


def _deploy_row(d: Obj, now: datetime) -> list[str]:
    spec_replicas = dig(d, "spec", "replicas")
    desired = num(spec_replicas) if spec_replicas is not None else 1
    st = as_dict(d.get("status"))
    return [f"{num(st.get('readyReplicas'))}/{desired}", str(num(st.get("updatedReplicas"))),
            str(num(st.get("availableReplicas"))), _created(d, now)]


def _workload_wide(obj: Obj, now: datetime) -> list[str]:
    names, images = template_containers(obj)
    return [names, images, selector_text(dig(obj, "spec", "selector"))]


def _rs_row(rs: Obj, now: datetime) -> list[str]:
    spec_replicas = dig(rs, "spec", "replicas")
    desired = num(spec_replicas) if spec_replicas is not None else 1
    st = as_dict(rs.get("status"))
    return [str(desired), str(num(st.get("replicas"))), str(num(st.get("readyReplicas"))), _created(rs, now)]


def service_ports(svc: Obj) -> str:
    parts = []
    for port in as_list(dig(svc, "spec", "ports")):
        p = as_dict(port)
        text = str(p.get("port", ""))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        parts.append(f"{text}/{p.get('protocol') or 'TCP'}")
    return ",".join(parts) or NONE


def _service_row(svc: Obj, now: datetime) -> list[str]:
    spec = as_dict(svc.get("spec"))
    type_ = str(spec.get("type") or "ClusterIP")
    external = ",".join(str(ip) for ip in as_list(spec.get("externalIPs")))
    ingress = [as_dict(i).get("ip") or as_dict(i).get("hostname")
               for i in as_list(dig(svc, "status", "loadBalancer", "ingress"))]
    if ingress:
        external = ",".join(str(i) for i in ingress if i)
    elif type_ == "LoadBalancer" and not external:
        external = "<pending>"
    elif type_ == "ExternalName":
        external = str(spec.get("externalName") or "")
    return [type_, str(spec.get("clusterIP") or NONE), external or NONE, service_ports(svc), _created(svc, now)]


def _service_wide(svc: Obj, now: datetime) -> list[str]:
    return [labels_text(dig(svc, "spec", "selector"))]


def endpoints_text(ep: Obj, limit: int = 3) -> str:
    addresses: list[str] = []
    for subset in as_list(ep.get("subsets")):
        ports = [as_dict(p).get("port") for p in as_list(as_dict(subset).get("ports"))] or [None]
        for addr in as_list(as_dict(subset).get("addresses")):
            for port in ports:
                ip = str(as_dict(addr).get("ip", ""))
                addresses.append(f"{ip}:{port}" if port is not None else ip)
    if not addresses:
        return NONE
    shown = ",".join(addresses[:limit])
    return shown + (f" + {len(addresses) - limit} more..." if len(addresses) > limit else "")


def _daemonset_row(ds: Obj, now: datetime) -> list[str]:
    st = as_dict(ds.get("status"))
    selector = as_dict(dig(ds, "spec", "template", "spec", "nodeSelector"))
    return [str(num(st.get(k))) for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                                          "updatedNumberScheduled", "numberAvailable")] + [
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or NONE, _created(ds, now)]


def _statefulset_row(sts: Obj, now: datetime) -> list[str]:
    spec_replicas = dig(sts, "spec", "replicas")
    desired = num(spec_replicas) if spec_replicas is not None else 1
    return [f"{num(dig(sts, 'status', 'readyReplicas'))}/{desired}", _created(sts, now)]


def _job_row(job: Obj, now: datetime) -> list[str]:
    st = as_dict(job.get("status"))
    completions = dig(job, "spec", "completions")
    target = str(num(completions)) if completions is not None else "1"
    status = "Suspended" if dig(job, "spec", "suspend") else "Running"
    for cond in as_list(st.get("conditions")):
        if as_dict(cond).get("status") == "True" and as_dict(cond).get("type") in ("Complete", "Failed"):
            status = str(as_dict(cond).get("type"))
    start, end = parse_time_or_none(st.get("startTime")), parse_time_or_none(st.get("completionTime"))
    duration = human_duration(((end or now) - start).total_seconds()) if start else ""
    return [status, f"{num(st.get('succeeded'))}/{target}", duration, _created(job, now)]


def _cronjob_row(cj: Obj, now: datetime) -> list[str]:
    last = dig(cj, "status", "lastScheduleTime")
    return [str(dig(cj, "spec", "schedule") or ""), str(dig(cj, "spec", "timeZone") or NONE),
            str(bool(dig(cj, "spec", "suspend"))),
            str(len(as_list(dig(cj, "status", "active")))), age(last, now) if last else NONE, _created(cj, now)]


def node_status(node: Obj) -> str:
    ready = _condition(as_dict(node.get("status")), "Ready")
    text = {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
    if dig(node, "spec", "unschedulable"):
        text += ",SchedulingDisabled"
    return text


def node_roles(node: Obj) -> str:
    roles = []
    for key in as_dict(dig(node, "metadata", "labels")):
        if key.startswith("node-role.kubernetes.io/"):
            roles.append(key.split("/", 1)[1])
        elif key == "kubernetes.io/role":
            roles.append(str(dig(node, "metadata", "labels", key)))
    return ",".join(sorted(r for r in roles if r)) or NONE


def node_address(node: Obj, type_: str) -> str:
    for addr in as_list(dig(node, "status", "addresses")):
        if as_dict(addr).get("type") == type_:
            return str(addr.get("address", NONE))
    return NONE


def _node_row(node: Obj, now: datetime) -> list[str]:
    version = dig(node, "status", "nodeInfo", "kubeletVersion") or ""
    return [node_status(node), node_roles(node), _created(node, now), str(version)]


def _node_wide(node: Obj, now: datetime) -> list[str]:
    info = as_dict(dig(node, "status", "nodeInfo"))
    return [node_address(node, "InternalIP"), node_address(node, "ExternalIP"),
            str(info.get("osImage") or "<unknown>"), str(info.get("kernelVersion") or "<unknown>"),
            str(info.get("containerRuntimeVersion") or "<unknown>")]


def _data_count(obj: Obj) -> int:
    return len(as_dict(obj.get("data"))) + len(as_dict(obj.get("binaryData"))) + len(as_dict(obj.get("stringData")))


def event_time(ev: Obj) -> datetime | None:
    """When an Event last happened: lastTimestamp, eventTime, firstTimestamp, creation, in that order."""
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        when = parse_time_or_none(ev.get(key))
        if when:
            return when
    return parse_time_or_none(dig(ev, "metadata", "creationTimestamp"))


def _event_row(ev: Obj, now: datetime) -> list[str]:
    when = event_time(ev)
    involved = as_dict(ev.get("involvedObject"))
    target = f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"
    message = str(ev.get("message", "")).strip().replace("\n", " ")
    count = num(ev.get("count"))
    if count > 1:
        message += f" (x{count})"
    last_seen = age(when.isoformat(), now) if when else "<unknown>"
    return [last_seen, str(ev.get("type", "")), str(ev.get("reason", "")), target, message]


def _lease_row(lease: Obj, now: datetime) -> list[str]:
    return [str(dig(lease, "spec", "holderIdentity") or NONE), _created(lease, now)]


def _binding_row(binding: Obj, now: datetime) -> list[str]:
    ref = as_dict(binding.get("roleRef"))
    return [f"{ref.get('kind', '')}/{ref.get('name', '')}", _created(binding, now)]


def _binding_wide(binding: Obj, now: datetime) -> list[str]:
    """USERS, GROUPS, SERVICEACCOUNTS (ns:name), like kubectl -o wide."""
    subjects = [s for s in as_list(binding.get("subjects")) if isinstance(s, dict)]

    def names(kind: str) -> str:
        found = [(f"{s.get('namespace', '')}:{s.get('name', '')}" if kind == "ServiceAccount" else str(s.get("name")))
                 for s in subjects if s.get("kind") == kind]
        return ", ".join(found)

    return [names("User"), names("Group"), names("ServiceAccount")]


def csr_condition(csr: Obj) -> str:
    """kubectl's CONDITION of a CSR: its Approved/Denied/Failed conditions, `Issued` once it has a
    certificate, `Pending` when none of these."""
    status = as_dict(csr.get("status"))
    parts = [str(c.get("type")) for c in as_list(status.get("conditions"))
             if isinstance(c, dict) and c.get("type") in ("Approved", "Denied", "Failed")]
    if status.get("certificate"):
        parts.append("Issued")
    return ",".join(parts) or "Pending"


def _csr_row(csr: Obj, now: datetime) -> list[str]:
    seconds = dig(csr, "spec", "expirationSeconds")
    duration = human_duration(seconds) if isinstance(seconds, int) else NONE
    return [_created(csr, now), str(dig(csr, "spec", "signerName") or NONE), str(dig(csr, "spec", "username") or ""),
            duration, csr_condition(csr)]


def _quota_row(quota: Obj, now: datetime) -> list[str]:
    """AGE, REQUEST, LIMIT as kubectl shows a ResourceQuota: `pods: 3/3, requests.cpu: 600m/1` (used/hard)."""
    hard, used = as_dict(dig(quota, "status", "hard")), as_dict(dig(quota, "status", "used"))
    hard = hard or as_dict(dig(quota, "spec", "hard"))
    entries = [(k, f"{k}: {used.get(k, '0')}/{v}") for k, v in sorted(hard.items())]
    return [_created(quota, now), ", ".join(t for k, t in entries if not k.startswith("limits.")),
            ", ".join(t for k, t in entries if k.startswith("limits."))]


def _modes_text(modes: Any) -> str:
    """RWO,ROX,RWX,RWOP: how kubectl abbreviates access modes."""
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    return ",".join(short.get(str(m), str(m)) for m in as_list(modes))


def _pv_row(pv: Obj, now: datetime) -> list[str]:
    ref = as_dict(dig(pv, "spec", "claimRef"))
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref.get("name") else ""
    return [str(dig(pv, "spec", "capacity", "storage") or ""), _modes_text(dig(pv, "spec", "accessModes")),
            str(dig(pv, "spec", "persistentVolumeReclaimPolicy") or "Retain"), str(dig(pv, "status", "phase") or ""),
            claim, str(dig(pv, "spec", "storageClassName") or ""), str(dig(pv, "status", "reason") or ""),
            _created(pv, now)]


def _pvc_row(pvc: Obj, now: datetime) -> list[str]:
    bound = dig(pvc, "status", "phase") == "Bound"
    return [str(dig(pvc, "status", "phase") or "Pending"), str(dig(pvc, "spec", "volumeName") or ""),
            str(dig(pvc, "status", "capacity", "storage") or "") if bound else "",
            _modes_text(dig(pvc, "status", "accessModes")) if bound else "",
            str(dig(pvc, "spec", "storageClassName") or ""), _created(pvc, now)]


def _is_default_class(sc: Obj) -> bool:
    return str(as_dict(dig(sc, "metadata", "annotations")).get(
        "storageclass.kubernetes.io/is-default-class", "")).lower() == "true"


def _sc_row(sc: Obj, now: datetime) -> list[str]:
    expand = dig(sc, "allowVolumeExpansion")
    return [str(sc.get("provisioner") or ""), str(sc.get("reclaimPolicy") or "Delete"),
            str(sc.get("volumeBindingMode") or "Immediate"), "true" if expand else "false", _created(sc, now)]


def _pdb_row(pdb: Obj, now: datetime) -> list[str]:
    spec = as_dict(pdb.get("spec"))
    return [str(spec.get("minAvailable", "N/A")), str(spec.get("maxUnavailable", "N/A")),
            str(num(dig(pdb, "status", "disruptionsAllowed"))), _created(pdb, now)]


def _netpol_row(np: Obj, now: datetime) -> list[str]:
    """POD-SELECTOR as kubectl prints it: `role=db,tier in (a,b)`, `<none>` for the empty (all pods) selector."""
    from kubelite.api.meta import LabelSelector  # a model: imported for NetworkPolicy tables only

    sel = dig(np, "spec", "podSelector")
    text = str(label_matcher(LabelSelector.from_dict(sel))) if isinstance(sel, dict) and sel else ""
    return [text or NONE, _created(np, now)]


def _ingress_row(ing: Obj, now: datetime) -> list[str]:
    """CLASS HOSTS ADDRESS PORTS AGE as kubectl shows an Ingress (PORTS is 80, or 80, 443 with TLS)."""
    spec = as_dict(ing.get("spec"))
    hosts = [str(as_dict(r).get("host")) for r in as_list(spec.get("rules")) if as_dict(r).get("host")]
    address = [str(as_dict(i).get("ip") or as_dict(i).get("hostname") or "")
               for i in as_list(dig(ing, "status", "loadBalancer", "ingress"))]
    ports = "80, 443" if as_list(spec.get("tls")) else "80"
    return [str(spec.get("ingressClassName") or NONE), ",".join(hosts) or "*", ",".join(a for a in address if a),
            ports, _created(ing, now)]


def _generic_row(obj: Obj, now: datetime) -> list[str]:
    return [_created(obj, now)]


TABLES: dict[str, TableSpec] = {
    "Pod": TableSpec(["READY", "STATUS", "RESTARTS", "AGE"], _pod_row, ["IP", "NODE"], _pod_wide),
    "Deployment": TableSpec(["READY", "UP-TO-DATE", "AVAILABLE", "AGE"], _deploy_row,
                            ["CONTAINERS", "IMAGES", "SELECTOR"], _workload_wide),
    "ReplicaSet": TableSpec(["DESIRED", "CURRENT", "READY", "AGE"], _rs_row,
                            ["CONTAINERS", "IMAGES", "SELECTOR"], _workload_wide),
    "DaemonSet": TableSpec(["DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"],
                           _daemonset_row, ["CONTAINERS", "IMAGES", "SELECTOR"], _workload_wide),
    "StatefulSet": TableSpec(["READY", "AGE"], _statefulset_row, ["CONTAINERS", "IMAGES"],
                             lambda o, n: list(template_containers(o))),
    "Job": TableSpec(["STATUS", "COMPLETIONS", "DURATION", "AGE"], _job_row, ["CONTAINERS", "IMAGES", "SELECTOR"],
                     _workload_wide),
    "CronJob": TableSpec(["SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"], _cronjob_row, [], None),
    "Service": TableSpec(["TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], _service_row,
                         ["SELECTOR"], _service_wide),
    "Endpoints": TableSpec(["ENDPOINTS", "AGE"], lambda o, n: [endpoints_text(o), _created(o, n)], []),
    "Node": TableSpec(["STATUS", "ROLES", "AGE", "VERSION"], _node_row,
                      ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
                      _node_wide),
    "Namespace": TableSpec(["STATUS", "AGE"],
                           lambda o, n: [str(dig(o, "status", "phase") or "Active"), _created(o, n)], []),
    "ConfigMap": TableSpec(["DATA", "AGE"], lambda o, n: [str(_data_count(o)), _created(o, n)], []),
    "Secret": TableSpec(["TYPE", "DATA", "AGE"],
                        lambda o, n: [str(o.get("type") or "Opaque"), str(_data_count(o)), _created(o, n)], []),
    "Lease": TableSpec(["HOLDER", "AGE"], _lease_row, []),
    "ResourceQuota": TableSpec(["AGE", "REQUEST", "LIMIT"], _quota_row, []),
    "NetworkPolicy": TableSpec(["POD-SELECTOR", "AGE"], _netpol_row, []),
    "ServiceAccount": TableSpec(["SECRETS", "AGE"],
                                lambda o, n: [str(len(as_list(o.get("secrets")))), _created(o, n)], []),
    "RoleBinding": TableSpec(["ROLE", "AGE"], _binding_row, ["USERS", "GROUPS", "SERVICEACCOUNTS"], _binding_wide),
    "PersistentVolume": TableSpec(["CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
                                   "REASON", "AGE"], _pv_row, []),
    "PersistentVolumeClaim": TableSpec(["STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"],
                                       _pvc_row, []),
    "StorageClass": TableSpec(["PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"],
                              _sc_row, []),
    "PodDisruptionBudget": TableSpec(["MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"], _pdb_row, []),
    "ClusterRoleBinding": TableSpec(["ROLE", "AGE"], _binding_row, ["USERS", "GROUPS", "SERVICEACCOUNTS"],
                                    _binding_wide),
    "CertificateSigningRequest": TableSpec(["AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"],
                                           _csr_row, []),
    "HorizontalPodAutoscaler": TableSpec(["REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
                                         lambda o, n: [*hpa_row(o), _created(o, n)], []),
    "Ingress": TableSpec(["CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"], _ingress_row, []),
    "IngressClass": TableSpec(["CONTROLLER", "PARAMETERS", "AGE"],
                              lambda o, n: [str(dig(o, "spec", "controller") or ""), NONE, _created(o, n)], []),
    "CustomResourceDefinition": TableSpec(["CREATED AT"],
                                          lambda o, n: [str(dig(o, "metadata", "creationTimestamp") or "")], []),
}
EVENT_COLUMNS = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
GENERIC = TableSpec(["AGE"], _generic_row, [])


def _name_suffix(kind: str, obj: Obj) -> str:
    """` (default)` after the default StorageClass's name, as kubectl prints it."""
    return " (default)" if kind == "StorageClass" and _is_default_class(obj) else ""


def table_for(kind: str, objs: Sequence[Obj], *, wide: bool = False, all_namespaces: bool = False,
              show_labels: bool = False, name_prefix: str = "", now: datetime | None = None,
              spec: TableSpec | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows for objects of one kind (Events have no NAME column, like kubectl);
    `spec` overrides the kind's columns (a custom kind's printer columns)."""
    now = now or datetime.now(UTC)
    if kind == "Event":
        header = list(EVENT_COLUMNS)
        rows = [_event_row(o, now) for o in objs]
    else:
        spec = spec or TABLES.get(kind, GENERIC)
        header = ["NAME", *spec.columns]
        if wide and spec.wide_row is not None:
            header += spec.wide_columns
        rows = []
        for o in objs:
            row = [name_prefix + str(dig(o, "metadata", "name") or "") + _name_suffix(kind, o), *spec.row(o, now)]
            if wide and spec.wide_row is not None:
                row += spec.wide_row(o, now)
            rows.append(row)
    if show_labels:
        header.append("LABELS")
        for o, row in zip(objs, rows, strict=True):
            row.append(labels_text(dig(o, "metadata", "labels")))
    if all_namespaces:
        header.insert(0, "NAMESPACE")
        for o, row in zip(objs, rows, strict=True):
            row.insert(0, str(dig(o, "metadata", "namespace") or ""))
    return header, rows

"""Tables read like kubectl's: pod STATUS from container states, ages like `3m12s`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubectl.printers import age, human_duration, pod_ready, pod_restarts, pod_status, render, table_for

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def pod(phase: str = "Running", states: list[dict[str, Any]] | None = None, *, ready: bool = True,
        deleting: bool = False, init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "default", "creationTimestamp": ts(75)}
    if deleting:
        meta["deletionTimestamp"] = ts(1)
    statuses = [{"name": f"c{i}", "state": s, "ready": ready, "restartCount": 0} for i, s in enumerate(states or [])]
    status: dict[str, Any] = {"phase": phase, "containerStatuses": statuses}
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}"} for i in range(max(1, len(states or [])))]}
    if init is not None:
        spec["initContainers"] = [{"name": f"i{i}"} for i in range(len(init))]
        status["initContainerStatuses"] = [{"name": f"i{i}", "state": s} for i, s in enumerate(init)]
    return {"metadata": meta, "spec": spec, "status": status}


@pytest.mark.parametrize(("obj", "expected"), [
    (pod("Running", [{"running": {"startedAt": ts(10)}}]), "Running"),
    (pod("Pending", []), "Pending"),
    (pod("Pending", [{"waiting": {"reason": "ContainerCreating"}}], ready=False), "ContainerCreating"),
    (pod("Running", [{"waiting": {"reason": "CrashLoopBackOff"}}], ready=False), "CrashLoopBackOff"),
    (pod("Succeeded", [{"terminated": {"exitCode": 0, "reason": "Completed"}}], ready=False), "Completed"),
    (pod("Failed", [{"terminated": {"exitCode": 1, "reason": "Error"}}], ready=False), "Error"),
    (pod("Failed", [{"terminated": {"exitCode": 3}}], ready=False), "ExitCode:3"),
    (pod("Running", [{"running": {}}], deleting=True), "Terminating"),
    (pod("Pending", [], init=[{"waiting": {"reason": "PodInitializing"}}]), "Init:0/1"),
    (pod("Pending", [], init=[{"terminated": {"exitCode": 1, "reason": "Error"}}]), "Init:Error"),
])
def test_pod_status_column(obj: dict[str, Any], expected: str) -> None:
    assert pod_status(obj) == expected


def test_ready_and_restarts_columns() -> None:
    p = pod("Running", [{"running": {}}, {"waiting": {"reason": "CrashLoopBackOff"}}])
    p["status"]["containerStatuses"][1]["ready"] = False
    p["status"]["containerStatuses"][1]["restartCount"] = 4
    p["status"]["containerStatuses"][1]["lastState"] = {"terminated": {"finishedAt": ts(130)}}
    assert pod_ready(p) == "1/2"
    assert pod_restarts(p, NOW) == "4 (2m10s ago)"


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "0s"), (5, "5s"), (119, "119s"), (192, "3m12s"), (300, "5m"), (1500, "25m"), (3 * 3600 + 120, "3h2m"),
    (10 * 3600, "10h"), (50 * 3600, "2d2h"), (8 * 86400, "8d"), (400 * 86400, "400d"),
    (3 * 365 * 86400 + 20 * 86400, "3y20d"), (10 * 365 * 86400, "10y"), (-5, "<invalid>"),
])
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_age_of_timestamps() -> None:
    assert age(ts(192), NOW) == "3m12s"
    assert age("2026-11-24T11:59:55.123456Z", NOW) == "4s"
    assert age(None, NOW) == "<unknown>"


def test_pod_table_and_wide_columns() -> None:
    p = pod("Running", [{"running": {}}])
    p["status"]["podIP"] = "10.244.0.5"
    p["spec"]["nodeName"] = "node-1"
    header, rows = table_for("Pod", [p], wide=True, now=NOW)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert rows == [["p", "1/1", "Running", "0", "75s", "10.244.0.5", "node-1"]]
    header, rows = table_for("Pod", [p], all_namespaces=True, show_labels=True, now=NOW)
    assert header[0] == "NAMESPACE" and header[-1] == "LABELS" and rows[0][0] == "default"


def test_deployment_service_and_node_rows() -> None:
    deploy = {"metadata": {"name": "web", "creationTimestamp": ts(30)}, "spec": {"replicas": 3},
              "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert table_for("Deployment", [deploy], now=NOW)[1] == [["web", "2/3", "3", "2", "30s"]]
    svc = {"metadata": {"name": "s", "creationTimestamp": ts(30)},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.7", "ports": [{"port": 80, "nodePort": 30080}]}}
    assert table_for("Service", [svc], now=NOW)[1] == [["s", "NodePort", "10.96.0.7", "<none>", "80:30080/TCP", "30s"]]
    node = {"metadata": {"name": "node-1", "creationTimestamp": ts(30), "labels": {"node-role.kubernetes.io/worker": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v0.1.0"}}}
    assert table_for("Node", [node], now=NOW)[1] == [["node-1", "Ready", "worker", "30s", "v0.1.0"]]


def test_event_rows_have_no_name_column() -> None:
    ev = {"metadata": {"name": "e"}, "type": "Normal", "reason": "Scheduled", "message": "assigned",
          "lastTimestamp": ts(5), "involvedObject": {"kind": "Pod", "name": "p"}, "count": 2}
    header, rows = table_for("Event", [ev], now=NOW)
    assert header == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows == [["5s", "Normal", "Scheduled", "pod/p", "assigned (x2)"]]


def test_generic_kind_and_name_prefix() -> None:
    lease = {"metadata": {"name": "l", "creationTimestamp": ts(3)}}
    assert table_for("Whatever", [lease], name_prefix="whatever/", now=NOW) == (["NAME", "AGE"], [["whatever/l", "3s"]])


def test_render_aligns_columns_with_three_spaces() -> None:
    text, widths = render(["NAME", "AGE"], [["a-long-name", "5s"]])
    assert text.splitlines() == ["NAME          AGE", "a-long-name   5s"]
    assert widths == [11, 3]


def test_workload_kinds_have_kubectl_columns() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    created = {"creationTimestamp": "2025-12-31T23:58:00Z"}
    ds = {"metadata": {"name": "agent", **created}, "spec": {"template": {"spec": {"nodeSelector": {"os": "linux"}}}},
          "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                     "updatedNumberScheduled": 3, "numberAvailable": 2}}
    header, rows = table_for("DaemonSet", [ds], now=now)
    assert header == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"]
    assert rows == [["agent", "3", "3", "2", "3", "2", "os=linux", "2m"]]
    sts = {"metadata": {"name": "web", **created}, "spec": {"replicas": 3}, "status": {"readyReplicas": 1}}
    assert table_for("StatefulSet", [sts], now=now)[1] == [["web", "1/3", "2m"]]
    job = {"metadata": {"name": "pi", **created}, "spec": {"completions": 4},
           "status": {"succeeded": 4, "startTime": "2025-12-31T23:58:00Z", "completionTime": "2025-12-31T23:58:30Z",
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert table_for("Job", [job], now=now)[1] == [["pi", "Complete", "4/4", "30s", "2m"]]
    cj = {"metadata": {"name": "tick", **created}, "spec": {"schedule": "*/5 * * * *"},
          "status": {"active": [{"name": "tick-1"}], "lastScheduleTime": "2025-12-31T23:59:00Z"}}
    assert table_for("CronJob", [cj], now=now)[1] == [["tick", "*/5 * * * *", "<none>", "False", "1", "60s", "2m"]]

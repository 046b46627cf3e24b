"""describe output: the facts someone debugging needs, aligned, with Events last."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from kubectl.commands.logs import _pod_rank, pick_container
from kubectl.describe import Writer, describe_events
from kubectl.describe_kinds import describe_pod
from kubectl.errors import CliError
from kubectl.session import Session

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def running_pod(name: str = "web-abc-1", *, ready: bool = True, phase: str = "Running",
                created: str = "2026-11-24T11:00:00Z") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}, "creationTimestamp": created,
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": True, "uid": "u"}]},
        "spec": {"nodeName": "node-1", "containers": [
            {"name": "main", "image": "busybox:1.35", "command": ["sh", "-c", "sleep 1000"],
             "resources": {"requests": {"cpu": "100m"}}}]},
        "status": {"phase": phase, "hostIP": "127.0.0.2", "podIP": "10.0.0.5", "startTime": "2026-11-24T11:00:01Z",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "main", "ready": ready, "restartCount": 2,
                                          "containerID": "process://1234",
                                          "state": {"running": {"startedAt": "2026-11-24T11:50:00Z"}},
                                          "lastState": {"terminated": {"exitCode": 137, "reason": "Error"}}}]},
    }


def test_pod_description() -> None:
    w = Writer()
    asyncio.run(describe_pod(cast(Session, None), running_pod(), w))
    describe_events(w, [{"type": "Normal", "reason": "Started", "message": "Started container main",
                         "lastTimestamp": "2026-11-24T11:59:50Z", "source": {"component": "kubelet", "host": "node-1"}}],
                    now=NOW)
    text = w.render()
    lines = text.splitlines()
    assert lines[0].split() == ["Name:", "web-abc-1"]
    assert "Node:             node-1/127.0.0.2" in text
    assert "Controlled By:    ReplicaSet/web-abc" in text
    assert "Status:           Running" in text
    assert "Container ID:  process://1234" in text
    assert "State:          Running" in text and "Last State:     Terminated" in text
    assert "Exit Code:    137" in text and "Restart Count:  2" in text
    assert "cpu:        100m" in text
    events = lines[lines.index("Events:"):]
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert events[3].split()[:3] == ["Normal", "Started", "10s"] and "kubelet, node-1" in events[3]


def test_no_events_reads_none() -> None:
    w = Writer()
    w.field(0, "Name", "x")
    describe_events(w, [], now=NOW)
    assert w.render() == "Name:  x\nEvents:  <none>\n"


def test_logs_prefers_running_ready_pods() -> None:
    pending = running_pod("p1", phase="Pending", created="2026-11-24T11:59:00Z")
    not_ready = running_pod("p2", ready=False)
    best = running_pod("p3")
    assert [p["metadata"]["name"] for p in sorted([pending, not_ready, best], key=_pod_rank)] == ["p3", "p2", "p1"]


def test_logs_container_choice(capsys: pytest.CaptureFixture[str]) -> None:
    pod = running_pod()
    assert pick_container(pod, "") == "main"
    pod["spec"]["containers"].append({"name": "sidecar", "image": "x"})
    assert pick_container(pod, "sidecar") == "sidecar"
    assert pick_container(pod, "") == "main"
    assert 'Defaulted container "main" out of: main, sidecar' in capsys.readouterr().err
    with pytest.raises(CliError, match="not valid"):
        pick_container(pod, "nope")

"""Pod status (phase, conditions, containerStatuses) from container states."""

from __future__ import annotations

from kubelet.status import ContainerView, PodView, Terminated, compute_pod_status, pod_phase, status_changed
from kubelite.api import Pod

NOW = "2026-01-01T00:00:10Z"


def done(code: int) -> Terminated:
    return Terminated(code, "Completed" if code == 0 else "Error", 1.0, 2.0, "process://9")


def running(name: str = "c", ready: bool = True) -> ContainerView:
    return ContainerView(name, "img", running_since=1.0, container_id="process://42", ready=ready)


def waiting(name: str = "c", last: Terminated | None = None) -> ContainerView:
    return ContainerView(name, "img", waiting_reason="CrashLoopBackOff" if last else "", last_terminated=last)


def exited(code: int, name: str = "c") -> ContainerView:
    return ContainerView(name, "img", terminated=done(code))


def test_phase_rules() -> None:
    assert pod_phase(PodView("Always", containers=[waiting()])) == "Pending"
    assert pod_phase(PodView("Always", containers=[running()])) == "Running"
    assert pod_phase(PodView("Always", containers=[waiting(last=done(1))])) == "Running"
    assert pod_phase(PodView("Never", containers=[exited(3)])) == "Failed"
    assert pod_phase(PodView("Never", containers=[exited(0)])) == "Succeeded"
    assert pod_phase(PodView("OnFailure", containers=[exited(0)])) == "Succeeded"
    assert pod_phase(PodView("OnFailure", containers=[waiting(last=done(2))])) == "Running"
    assert pod_phase(PodView("Never", containers=[exited(0, "a"), exited(1, "b")])) == "Failed"
    assert pod_phase(PodView("Never", containers=[running("a"), exited(1, "b")])) == "Running"
    # init containers gate the pod
    assert pod_phase(PodView("Always", init=[running("i")], containers=[waiting()])) == "Pending"
    assert pod_phase(PodView("Always", init=[waiting("i", last=done(1))], containers=[waiting()])) == "Pending"
    assert pod_phase(PodView("Never", init=[exited(1, "i")], containers=[waiting()])) == "Failed"
    assert pod_phase(PodView("Always", init=[exited(0, "i")], containers=[running()])) == "Running"


def pod() -> Pod:
    return Pod.from_dict({
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "img"}]},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
    })


def cond(status: object, type_: str) -> dict[str, str]:
    found = [c for c in status.to_dict()["conditions"] if c["type"] == type_]  # type: ignore[attr-defined]
    assert len(found) == 1
    return found[0]  # type: ignore[no-any-return]


def test_running_pod_status() -> None:
    status = compute_pod_status(pod(), PodView("Always", containers=[running()]), "127.0.0.11", NOW)
    d = status.to_dict()
    assert d["phase"] == "Running" and d["hostIP"] == d["podIP"] == "127.0.0.11" and d["startTime"] == NOW
    cs = d["containerStatuses"][0]
    assert cs["containerID"] == "process://42" and cs["ready"] and cs["started"] and cs["restartCount"] == 0
    assert cs["state"] == {"running": {"startedAt": "1970-01-01T00:00:01Z"}} and cs["image"] == "img"
    assert cond(status, "Ready")["status"] == "True" and cond(status, "ContainersReady")["status"] == "True"
    assert cond(status, "Initialized")["status"] == "True"
    assert cond(status, "PodScheduled")["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_crashloop_status_and_not_ready() -> None:
    view = ContainerView("c", "img", restart_count=2, waiting_reason="CrashLoopBackOff",
                         waiting_message="back-off 20s", last_terminated=done(1))
    status = compute_pod_status(pod(), PodView("Always", containers=[view]), "127.0.0.11", NOW)
    cs = status.to_dict()["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}}
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 2 and not cs["ready"]
    ready = cond(status, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady" and "[c]" in ready["message"]


def test_failed_pod_keeps_exit_code_and_stays_terminal() -> None:
    p = pod()
    status = compute_pod_status(p, PodView("Never", containers=[exited(3)]), "127.0.0.11", NOW)
    term = status.to_dict()["containerStatuses"][0]["state"]["terminated"]
    assert status.phase == "Failed" and term["exitCode"] == 3 and term["reason"] == "Error"
    assert cond(status, "Ready")["reason"] == "PodCompleted"
    p.status = status
    # Even if the view later looks different, a terminal phase never goes back.
    again = compute_pod_status(p, PodView("Never", containers=[waiting()]), "127.0.0.11", NOW)
    assert again.phase == "Failed"


def test_unchanged_status_is_not_rewritten() -> None:
    p = pod()
    view = PodView("Always", containers=[running()])
    first = compute_pod_status(p, view, "127.0.0.11", NOW)
    p.status = first
    second = compute_pod_status(p, view, "127.0.0.11", "2026-01-01T00:05:00Z")
    assert not status_changed(first, second)
    assert status_changed(first, compute_pod_status(p, PodView("Always", containers=[waiting(last=done(1))]),
                                                    "127.0.0.11", NOW))


def test_computed_status_leaves_the_old_one_alone_and_carries_what_it_does_not_own() -> None:
    p = pod()
    p.status = Pod.from_dict({"status": {"phase": "Pending", "nominatedNodeName": "n9", "qosClass": "BestEffort",
                                         "conditions": [{"type": "DisruptionTarget", "status": "True"}]}}).status
    before = p.status.to_dict()
    new = compute_pod_status(p, PodView("Always", containers=[running()]), "127.0.0.11", NOW, pod_ip="10.244.1.7")
    assert p.status.to_dict() == before  # the cached pod's status is not touched
    assert new.phase == "Running" and new.pod_ip == "10.244.1.7" and new.qos_class == "BestEffort"
    assert new.nominated_node_name == "n9" and any(c.type == "DisruptionTarget" for c in new.conditions)


def test_statuses_the_api_shows_alike_are_unchanged() -> None:
    p = pod()
    first = compute_pod_status(p, PodView("Always", containers=[running()]), "127.0.0.11", NOW)
    echoed = Pod.from_dict({"status": first.to_dict()}).status  # as the watch brings it back
    assert not status_changed(echoed, first)
    assert status_changed(echoed, first.model_copy(update={"phase": "Failed"}))

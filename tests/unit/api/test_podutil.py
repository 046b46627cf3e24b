"""Pod helpers: readiness, availability, phases, conditions, effective requests, QoS, timestamps.

Why table-driven: these helpers replaced seven private copies that disagreed;
each table row pins one case of Kubernetes' semantics (IsPodReady,
IsPodAvailable, IsPodActive, IsPodTerminal, UpdatePodCondition), so a future
"simplification" that changes a rule fails here by name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubelite.api import Container, Node, NodeCondition, Pod, PodCondition
from kubelite.api.podutil import (
    condition_status,
    condition_true,
    creation_time,
    get_condition,
    has_condition,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_pod_terminal,
    pod_requests,
    qos_class,
    read_quantity,
    ready_since,
    set_condition,
    transition_time,
)
from kubelite.api.quantity import cpu_millis
from kubelite.api.timeutil import (
    EPOCH,
    format_time,
    format_unix,
    now,
    parse_time,
    parse_time_or_none,
    utcnow,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def container(name: str, cpu: str | None = None, mem: str | None = None, **kw: object) -> Container:
    req = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v}
    return Container.from_dict({"name": name, "image": "x", "resources": {"requests": req}, **kw})


def ready_pod(status: str | None = "True", since: str | None = None, phase: str | None = None) -> Pod:
    """A pod whose Ready condition has `status` (None: no Ready condition) and transition time `since`."""
    pod = Pod()
    pod.status.phase = phase
    if status is not None:
        pod.status.conditions = [PodCondition(type="Ready", status=status, last_transition_time=since)]
    return pod


def at(seconds: float) -> str:
    return format_time(T0 + timedelta(seconds=seconds))


# --- readiness --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "ready"), [
    (None, False),        # no Ready condition at all
    ("False", False),
    ("Unknown", False),
    ("True", True),
])
def test_ready_is_the_ready_condition_being_true(status: str | None, ready: bool) -> None:
    assert is_pod_ready(ready_pod(status, at(0))) is ready


def test_other_conditions_do_not_make_a_pod_ready() -> None:
    pod = Pod()
    pod.status.conditions = [PodCondition(type="ContainersReady", status="True"),
                             PodCondition(type="PodScheduled", status="True")]
    assert not is_pod_ready(pod)


# --- availability (k8s IsPodAvailable) -------------------------------------------------------------


@pytest.mark.parametrize(("status", "since", "min_ready", "now_s", "available"), [
    ("True", at(0), 0, 0, True),           # minReadySeconds 0: ready is enough
    ("True", None, 0, 0, True),            # ... even without a transition time
    ("False", at(0), 0, 100, False),       # not ready is never available
    (None, None, 0, 100, False),           # no Ready condition
    ("True", at(0), 10, 5, False),         # ready too recently
    ("True", at(0), 10, 10, False),        # exactly minReadySeconds: upstream needs strictly after
    ("True", at(0), 10, 11, True),         # ready for longer than minReadySeconds
    ("True", None, 10, 1000, False),       # missing transition time with minReadySeconds > 0: NOT available
    ("True", "garbage", 10, 1000, False),  # an unparsable one proves nothing either
    ("False", at(0), 10, 1000, False),
])
def test_available_means_ready_for_longer_than_min_ready_seconds(
        status: str | None, since: str | None, min_ready: int, now_s: float, available: bool) -> None:
    pod = ready_pod(status, since)
    assert is_pod_available(pod, min_ready, T0 + timedelta(seconds=now_s)) is available


def test_availability_defaults_to_the_current_time() -> None:
    pod = ready_pod("True", now())
    assert is_pod_available(pod, 0)
    assert not is_pod_available(pod, 30)
    assert is_pod_available(pod, 30, utcnow() + timedelta(seconds=31))


@pytest.mark.parametrize(("status", "since", "expected"), [
    ("True", at(5), T0 + timedelta(seconds=5)),
    ("True", None, None),
    ("False", at(5), None),  # only a ready pod has a "ready since"
    (None, None, None),
])
def test_ready_since(status: str | None, since: str | None, expected: datetime | None) -> None:
    assert ready_since(ready_pod(status, since)) == expected


# --- phases ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("phase", "deleting", "terminal", "active"), [
    (None, False, False, True),
    ("Pending", False, False, True),
    ("Running", False, False, True),
    ("Unknown", False, False, True),
    ("Succeeded", False, True, False),
    ("Failed", False, True, False),
    ("Running", True, False, False),  # being deleted: no longer counts as a replica
    ("Failed", True, True, False),
])
def test_terminal_and_active(phase: str | None, deleting: bool, terminal: bool, active: bool) -> None:
    pod = ready_pod(phase=phase)
    pod.metadata.deletion_timestamp = at(0) if deleting else None
    assert (is_pod_terminal(pod), is_pod_active(pod)) == (terminal, active)


def test_creation_time_falls_back_to_the_epoch() -> None:
    pod = Pod()
    assert creation_time(pod.metadata) == EPOCH
    pod.metadata.creation_timestamp = at(7)
    assert creation_time(pod.metadata) == T0 + timedelta(seconds=7)


# --- conditions (k8s UpdatePodCondition / meta.SetStatusCondition) ------------------------------------


def test_readiness_and_conditions() -> None:
    pod = Pod()
    assert not is_pod_ready(pod) and get_condition(pod.status, "Ready") is None
    assert set_condition(pod.status.conditions, PodCondition(type="Ready", status="True"))
    assert is_pod_ready(pod)
    first = get_condition(pod.status.conditions, "Ready")
    assert first and first.last_transition_time
    stamp = first.last_transition_time
    # Same status again: no change, transition time kept.
    assert not set_condition(pod.status.conditions, PodCondition(type="Ready", status="True"))
    cond = get_condition(pod.status, "Ready")
    assert cond and cond.last_transition_time == stamp and len(pod.status.conditions) == 1
    assert set_condition(pod.status.conditions, PodCondition(type="Ready", status="False", reason="Probe"))
    assert not is_pod_ready(pod)


@pytest.mark.parametrize(("old", "new", "changed", "transition"), [
    # (old status, reason, message), (new ...), meaningful change?, resulting lastTransitionTime
    (None, ("True", None, None), True, at(9)),                             # added: the new one's time
    (("True", None, None), ("True", None, None), False, at(0)),            # nothing new: old time kept
    (("True", "A", "x"), ("True", "B", "y"), True, at(0)),                 # same status: old time kept
    (("True", None, None), ("False", "Probe", None), True, at(9)),         # status moved: new time
    (("False", None, None), ("Unknown", None, None), True, at(9)),
])
def test_set_condition_moves_the_transition_time_only_with_the_status(
        old: tuple[str, str | None, str | None] | None, new: tuple[str, str | None, str | None],
        changed: bool, transition: str) -> None:
    conditions: list[PodCondition] = []
    if old is not None:
        conditions.append(PodCondition(type="Ready", status=old[0], reason=old[1], message=old[2],
                                       last_transition_time=at(0)))
    cond = PodCondition(type="Ready", status=new[0], reason=new[1], message=new[2], last_transition_time=at(9))
    assert set_condition(conditions, cond) is changed
    assert len(conditions) == 1
    assert (conditions[0].status, conditions[0].reason, conditions[0].message) == new
    assert conditions[0].last_transition_time == transition


@pytest.mark.parametrize(("old", "status", "expected"), [
    (None, "True", at(9)),                  # new condition: the stamp
    (("True", at(0)), "True", at(0)),       # same status: the old time stays
    (("True", None), "True", at(9)),        # same status but never stamped: the stamp
    (("True", at(0)), "False", at(9)),      # status moved: the stamp
])
def test_transition_time(old: tuple[str, str | None] | None, status: str, expected: str) -> None:
    prev = None if old is None else PodCondition(type="Ready", status=old[0], last_transition_time=old[1])
    assert transition_time(prev, status, at(9)) == expected


def test_set_condition_stamps_now_when_no_time_is_known() -> None:
    conditions: list[PodCondition] = []
    set_condition(conditions, PodCondition(type="Ready", status="True"))
    stamp = conditions[0].last_transition_time
    assert stamp is not None and abs((utcnow() - parse_time(stamp)).total_seconds()) < 5


def test_set_condition_keeps_other_types_and_their_order() -> None:
    conditions = [PodCondition(type="A", status="True"), PodCondition(type="B", status="True")]
    set_condition(conditions, PodCondition(type="A", status="False"))
    assert [(c.type, c.status) for c in conditions] == [("A", "False"), ("B", "True")]


def test_node_heartbeat_alone_is_not_a_change() -> None:
    node = Node()
    set_condition(node.status.conditions, NodeCondition(type="Ready", status="True", last_heartbeat_time="t1"))
    assert not set_condition(node.status.conditions,
                             NodeCondition(type="Ready", status="True", last_heartbeat_time="t2"))
    cond = get_condition(node.status, "Ready")
    assert cond and cond.last_heartbeat_time == "t2"


@pytest.mark.parametrize(("present", "wanted", "has"), [
    (("False", "Unschedulable", "0/3 nodes"), ("False", "Unschedulable", "0/3 nodes"), True),
    (("False", "Unschedulable", "0/3 nodes"), ("False", "Unschedulable", "0/4 nodes"), False),
    (("True", None, None), ("False", None, None), False),
    (None, ("True", None, None), False),
])
def test_has_condition_ignores_timestamps(present: tuple[str, str | None, str | None] | None,
                                          wanted: tuple[str, str | None, str | None], has: bool) -> None:
    pod = Pod()
    if present is not None:
        pod.status.conditions = [PodCondition(type="PodScheduled", status=present[0], reason=present[1],
                                              message=present[2], last_transition_time=at(0))]
    want = PodCondition(type="PodScheduled", status=wanted[0], reason=wanted[1], message=wanted[2],
                        last_transition_time=at(50))
    assert has_condition(pod.status, want) is has


def test_condition_status_and_true() -> None:
    node = Node()
    assert condition_status(node.status, "Ready") is None and not condition_true(node.status, "Ready")
    node.status.conditions = [NodeCondition(type="Ready", status="Unknown")]
    assert condition_status(node.status, "Ready") == "Unknown" and not condition_true(node.status, "Ready")
    node.status.conditions = [NodeCondition(type="Ready", status="True")]
    assert condition_true(node.status.conditions, "Ready")


# --- requests and QoS --------------------------------------------------------------------------------


def test_requests_sum_containers_and_take_max_of_init() -> None:
    pod = Pod()
    pod.spec.containers = [container("a", "100m", "64Mi"), container("b", "200m", "64Mi")]
    assert pod_requests(pod) == type(pod_requests(pod))(300, 128 * 2**20)
    pod.spec.init_containers = [container("init", "1", "16Mi")]
    r = pod_requests(pod)
    assert (r.cpu, r.memory) == (1000, 128 * 2**20)
    # A sidecar (init container with restartPolicy Always) keeps running: it adds up.
    pod.spec.init_containers = [container("side", "50m", "8Mi", restartPolicy="Always")]
    r = pod_requests(pod)
    assert (r.cpu, r.memory) == (350, 136 * 2**20)
    pod.spec.overhead = {"cpu": "10m"}
    assert pod_requests(pod).cpu == 360


def test_non_zero_defaults_for_scoring() -> None:
    pod = Pod()
    pod.spec.containers = [container("a")]
    assert pod_requests(pod).cpu == 0
    r = pod_requests(pod, non_zero=True)
    assert (r.cpu, r.memory) == (100, 200 * 2**20)


def test_bad_quantity_raises_unless_lenient() -> None:
    pod = Pod()
    pod.spec.containers = [container("a", "lots", "64Mi")]
    with pytest.raises(ValueError):
        pod_requests(pod)
    assert (pod_requests(pod, lenient=True).cpu, pod_requests(pod, lenient=True).memory) == (0, 64 * 2**20)
    assert read_quantity(None, "cpu", cpu_millis) == 0
    assert read_quantity({"cpu": "2"}, "cpu", cpu_millis) == 2000


def test_qos_class() -> None:
    pod = Pod()
    pod.spec.containers = [container("a")]
    assert qos_class(pod) == "BestEffort"
    pod.spec.containers = [container("a", "100m")]
    assert qos_class(pod) == "Burstable"
    pod.spec.containers = [Container.from_dict({"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}})]
    assert qos_class(pod) == "Guaranteed"


# --- timestamps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-01T00:00:00Z", T0),
    ("2026-01-01T00:00:00z", T0),
    ("2026-01-01T00:00:00.250000Z", T0 + timedelta(milliseconds=250)),
    ("2026-01-01T01:00:00+01:00", T0),
    ("2026-01-01T00:00:00", T0),  # no zone: UTC, what Kubernetes writes
    (" 2026-01-01T00:00:00Z ", T0),
])
def test_parse_time_accepts_rfc3339(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected
    assert parse_time_or_none(text) == expected


@pytest.mark.parametrize("value", [None, "", "  ", "yesterday", 17, "2026-13-01T00:00:00Z"])
def test_parse_time_or_none_gives_none_for_anything_else(value: object) -> None:
    assert parse_time_or_none(value) is None


def test_parse_time_is_strict() -> None:
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_format_time_writes_utc_seconds() -> None:
    assert format_time(T0 + timedelta(microseconds=999)) == "2026-01-01T00:00:00Z"
    plus_one = T0.astimezone(datetime.fromisoformat("2026-01-01T01:00:00+01:00").tzinfo)
    assert format_time(plus_one) == "2026-01-01T00:00:00Z"
    assert format_unix(T0.timestamp()) == "2026-01-01T00:00:00Z"
    assert parse_time(format_time(T0)) == T0

"""Pod status from what the kubelet knows about its containers (pure functions).

Why pure: phase and condition rules are where Kubernetes semantics live
(`kctl get pods`, Deployments' readiness, Jobs later); keeping them free of I/O
makes every rule testable with plain values. The pod worker turns runtime
snapshots into `ContainerView`s and writes the result only when it changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubelite.api import Pod, PodCondition, PodStatus
from kubelite.api import pods as p
from kubelite.api.podutil import TERMINAL_PHASES, get_condition, transition_time
from kubelite.api.timeutil import format_unix


def rfc3339(ts: float | None) -> str | None:
    return None if ts is None else format_unix(ts)


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    started_at: float | None
    finished_at: float | None
    container_id: str = ""
    message: str = ""

    def to_model(self) -> p.ContainerStateTerminated:
        return p.ContainerStateTerminated(
            exit_code=self.exit_code, reason=self.reason or None, message=self.message or None,
            started_at=rfc3339(self.started_at), finished_at=rfc3339(self.finished_at),
            container_id=self.container_id or None,
        )


@dataclass(frozen=True)
class ContainerView:
    """One container as the pod worker sees it: exactly one of running/terminated/waiting."""

    name: str
    image: str
    restart_count: int = 0
    running_since: float | None = None  # set: running
    terminated: Terminated | None = None  # set (and not running): terminated
    waiting_reason: str = "ContainerCreating"  # otherwise: waiting
    waiting_message: str = ""
    last_terminated: Terminated | None = None
    container_id: str = ""
    ready: bool = False  # readiness probe (or none) passed
    started: bool | None = None  # startup probe (or none) passed; None: same as running

    @property
    def running(self) -> bool:
        return self.running_since is not None

    def to_model(self) -> p.ContainerStatus:
        state = p.ContainerState()
        if self.running_since is not None:
            state.running = p.ContainerStateRunning(started_at=rfc3339(self.running_since))
        elif self.terminated is not None:
            state.terminated = self.terminated.to_model()
        else:
            state.waiting = p.ContainerStateWaiting(
                reason=self.waiting_reason or None, message=self.waiting_message or None
            )
        last = p.ContainerState()
        if self.last_terminated is not None:
            last.terminated = self.last_terminated.to_model()
        return p.ContainerStatus(
            name=self.name, state=state, last_state=last, ready=self.ready and self.running,
            restart_count=self.restart_count, image=self.image, image_id=self.image,
            container_id=self.container_id or None,
            started=self.running and (self.started is None or self.started),
        )


@dataclass(frozen=True)
class PodView:
    restart_policy: str
    init: list[ContainerView] = field(default_factory=list)
    containers: list[ContainerView] = field(default_factory=list)


def _init_counts(view: PodView) -> tuple[int, int]:
    pending = failed = 0
    for c in view.init:
        if c.running:
            pending += 1
        elif c.terminated is not None:
            failed += c.terminated.exit_code != 0
        elif c.last_terminated is not None and c.last_terminated.exit_code != 0:
            failed += 1
        else:
            pending += 1
    return pending, failed


def pod_phase(view: PodView) -> str:
    """Kubernetes' phase rules (kubelet getPhase), without sidecar containers."""
    pending_init, failed_init = _init_counts(view)
    if failed_init and view.restart_policy == "Never":
        return "Failed"
    if pending_init or failed_init:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for c in view.containers:
        if c.running:
            running += 1
        elif c.terminated is not None:
            stopped += 1
            succeeded += c.terminated.exit_code == 0
        elif c.last_terminated is not None:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if view.restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if view.restart_policy == "Never" else "Running"
    return "Pending"


def _condition(
    old: list[PodCondition], type_: str, ok: bool, reason: str, message: str, now: str
) -> PodCondition:
    prev = get_condition(old, type_)
    status = "True" if ok else "False"
    return PodCondition(
        type=type_, status=status, last_transition_time=transition_time(prev, status, now),
        reason=None if ok else reason, message=None if ok or not message else message,
    )


def compute_pod_status(pod: Pod, view: PodView, node_ip: str, now: str, pod_ip: str = "") -> PodStatus:
    """The status the kubelet wants the API to show for `pod`, given `view`.

    `pod_ip` is the sandbox's IP ("" before there is one: the old value stays,
    and a pod that never had one shows the node IP, as host-network pods do).

    Fields the kubelet does not own (other conditions, nominatedNodeName, qosClass)
    are carried over; a terminal phase never goes back.
    """
    old = pod.status
    phase = old.phase if old.phase in TERMINAL_PHASES else pod_phase(view)
    not_init = [c.name for c in view.init if not (c.terminated is not None and c.terminated.exit_code == 0)]
    unready = [c.name for c in view.containers if not (c.ready and c.running)]
    terminal = phase in TERMINAL_PHASES
    ready_reason = "PodCompleted" if terminal else "ContainersNotReady"
    ready_msg = "" if terminal else f"containers with unready status: [{' '.join(unready)}]"
    ours = [
        _condition(old.conditions, "Initialized", not not_init, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(not_init)}]", now),
        _condition(old.conditions, "Ready", not unready and not terminal, ready_reason, ready_msg, now),
        _condition(old.conditions, "ContainersReady", not unready and not terminal, ready_reason, ready_msg, now),
        _condition(old.conditions, "PodScheduled", True, "", "", now),
    ]
    owned = {c.type for c in ours}
    conditions = ours + [c for c in old.conditions if c.type not in owned]
    ip = pod_ip or old.pod_ip or node_ip
    # A shallow copy: every field the kubelet owns is replaced, the rest are carried over
    # as they are (nobody mutates a status in place). A deep copy of the old status here
    # was the largest share of the kubelet's own Python per sync (issue 20).
    return old.model_copy(update={
        "phase": phase, "conditions": conditions, "host_ip": node_ip, "host_ips": [p.HostIP(ip=node_ip)],
        "pod_ip": ip, "pod_ips": [p.PodIP(ip=ip)], "start_time": old.start_time or now,
        "init_container_statuses": [c.to_model() for c in view.init],
        "container_statuses": [c.to_model() for c in view.containers]})


def status_changed(old: PodStatus, new: PodStatus) -> bool:
    """Whether the API would show a different status. Equal models dump equally, so the
    (C-level) model comparison settles the usual case of a resync that changed nothing;
    only models that differ are compared as the JSON the API would hold (None and empty
    collections omitted, so e.g. an unset list and [] are the same)."""
    return old != new and old.to_dict() != new.to_dict()

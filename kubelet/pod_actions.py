"""What a pod worker should do next, decided from what it observes -- and nothing else.

Why a pure module: the rules (init containers one at a time and in order,
restartPolicy, crash-loop back-off, liveness kills, deletion) are where the
kubelet's semantics live and where a mistake restarts the wrong container or
none at all. As a function of (pod facts, observed containers, now) with no
I/O and no clock of its own they are tested with tables on a fake clock,
without a runtime or an event loop. `pod_executor` carries the actions out;
`pod_sync` runs the loop around both (like the kubelet's computePodActions
and SyncPod).

The decision has two stages because the worker acts between them: the
pod-level step (`plan_pod`) is decided on the last known state, before the
runtime is asked anything (a deleted pod is stopped without touching its
containers first); the container step (`plan_containers`) on the state just
read from the runtime. `plan` chains both for callers that have one view.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- what the worker observes ---------------------------------------------------


@dataclass(frozen=True)
class Exited:
    """An instance that has ended: its exit code and when (None: unknown)."""

    exit_code: int
    finished_at: float | None = None


@dataclass(frozen=True)
class ObservedContainer:
    """One container of the pod as the worker knows it now.

    `exited` is the current instance, ended but not yet replaced (it becomes
    lastState when the next instance is due); `last_exit` the previous
    instance's end. `backoff` is the crash-loop delay in force for the
    container (None when none is recorded); `kill` names the probe that asked
    to kill the running instance ("" when none did).
    """

    name: str
    init: bool = False
    running: bool = False
    exited: Exited | None = None
    last_exit: Exited | None = None
    backoff: float | None = None
    kill: str = ""


@dataclass(frozen=True)
class PodFacts:
    """What the pod-level decision needs to know about the pod."""

    restart_policy: str = "Always"
    deleting: bool = False  # deletionTimestamp set, or the pod is gone from the API
    phase_terminal: bool = False  # status.phase is Succeeded or Failed
    sandbox_ready: bool = True  # the worker holds a sandbox


# -- what the worker should do ----------------------------------------------------


@dataclass(frozen=True)
class KillPod:
    """Deleted: stop every container within the grace period, then clean up."""


@dataclass(frozen=True)
class KeepFinished:
    """The pod has finished and nothing runs: it never runs again (stop probes only)."""


@dataclass(frozen=True)
class CreateSandbox:
    """No sandbox yet: adopt the one a previous kubelet left, or create one."""


@dataclass(frozen=True)
class SyncContainers:
    """The pod-level step has nothing to say: go on to the containers."""


@dataclass(frozen=True)
class StartContainer:
    """Start the container's next instance.

    `retire`: the current instance has ended and is removed first (it becomes
    lastState). `restart`: an earlier instance exists, so this start is a
    restart and counts towards the crash-loop back-off."""

    name: str
    retire: bool = False
    restart: bool = False


@dataclass(frozen=True)
class BackOffRestart:
    """The container crashed too recently: wait until `until` (`delay` is the
    back-off in force, for the message); `retire` as for StartContainer."""

    name: str
    until: float
    delay: float
    retire: bool = False


@dataclass(frozen=True)
class KillContainer:
    """A liveness/startup probe failed: kill the running instance (restartPolicy
    decides afterwards whether it comes back)."""

    name: str
    reason: str


PodAction = KillPod | KeepFinished | CreateSandbox | SyncContainers
ContainerAction = StartContainer | BackOffRestart | KillContainer
Action = PodAction | ContainerAction


# -- the rules ----------------------------------------------------------------------


def plan_pod(pod: PodFacts, containers: list[ObservedContainer]) -> PodAction:
    """The pod-level step, on the last known state (no runtime view needed)."""
    if pod.deleting:
        return KillPod()
    if pod.phase_terminal and not any(c.running for c in containers):
        return KeepFinished()
    if not pod.sandbox_ready:
        return CreateSandbox()
    return SyncContainers()


def plan_containers(restart_policy: str, containers: list[ObservedContainer], now: float) -> list[ContainerAction]:
    """The container step: kills requested by probes, then what to (re)start.

    Init containers run one at a time and to success before any regular
    container; with restartPolicy Never a failed init container fails the
    pod. A regular container that ended is started again unless the policy
    says otherwise (Never; OnFailure after exit 0). Empty: nothing to do."""
    actions: list[ContainerAction] = [
        KillContainer(c.name, c.kill) for c in containers if c.running and c.kill
    ]
    for c in (c for c in containers if c.init):
        if c.running:
            return actions  # init containers run one at a time, to completion
        if c.exited is not None and c.exited.exit_code == 0:
            continue
        if c.exited is not None and restart_policy == "Never":
            return actions  # the pod has failed
        actions.append(_next_instance(c, now))
        return actions
    for c in (c for c in containers if not c.init):
        if c.running:
            continue
        if c.exited is not None:
            code = c.exited.exit_code
            if restart_policy == "Never" or (restart_policy == "OnFailure" and code == 0):
                continue
        actions.append(_next_instance(c, now))
    return actions


def _next_instance(c: ObservedContainer, now: float) -> StartContainer | BackOffRestart:
    """Start now, or back off: a container that ran before waits out its back-off
    counted from when its last instance finished (now, if that is unknown)."""
    retire = c.exited is not None
    previous = c.exited if c.exited is not None else c.last_exit
    if previous is None:
        return StartContainer(c.name)
    finished = previous.finished_at or now
    if c.backoff is not None and now - finished < c.backoff:
        return BackOffRestart(c.name, finished + c.backoff, c.backoff, retire=retire)
    return StartContainer(c.name, retire=retire, restart=True)


def plan(pod: PodFacts, containers: list[ObservedContainer], now: float) -> list[Action]:
    """Both stages on one view: the pod-level action, or the containers' actions."""
    step = plan_pod(pod, containers)
    if not isinstance(step, SyncContainers):
        return [step]
    return list(plan_containers(pod.restart_policy, containers, now))

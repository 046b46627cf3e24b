"""What a pod worker remembers about each of its containers, across restarts.

Why separate from the worker: this is the pure bookkeeping -- restart counts,
the current and last termination, waiting reasons -- and how it is rebuilt
from the status a previous kubelet wrote; the planner (`pod_actions`) decides
and the executor (`pod_executor`) acts.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubelet.probes import ContainerProbes
from kubelet.status import ContainerView, Terminated
from kubelite.api import Container
from kubelite.api import pods as p


@dataclass(frozen=True)
class KillRequest:
    """A liveness/startup probe failed on instance `container_id`; the next sync kills it."""

    container_id: str
    kind: str  # "Liveness" or "Startup"
    message: str


@dataclass
class ContainerTrack:
    """The kubelet's memory of one container of the pod, across its restarts."""

    spec: Container
    init: bool
    instances: int = 0  # instances started so far (restartCount = instances - 1)
    container_id: str | None = None  # runtime id of the current instance
    running_since: float | None = None
    uri: str = ""
    terminated: Terminated | None = None  # the current instance has ended
    last_terminated: Terminated | None = None
    waiting_reason: str = ""
    waiting_message: str = ""
    probes: ContainerProbes | None = None
    kill_request: KillRequest | None = None  # a probe asked to kill this instance

    @property
    def pending_kill(self) -> str:
        """The probe kind asking to kill the running instance, "" when none (a request
        about an earlier instance is stale and ignored)."""
        req = self.kill_request
        if req is None or self.running_since is None or req.container_id != self.container_id:
            return ""
        return req.kind

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def restart_count(self) -> int:
        return max(self.instances - 1, 0)

    def view(self, ready: bool, default_waiting: str) -> ContainerView:
        started = self.running_since is not None and (self.probes is None or self.probes.started)
        return ContainerView(
            name=self.name, image=self.spec.image or "", restart_count=self.restart_count,
            running_since=self.running_since,
            terminated=self.terminated if self.running_since is None else None,
            waiting_reason=self.waiting_reason or default_waiting, waiting_message=self.waiting_message,
            last_terminated=self.last_terminated, container_id=self.uri if self.running_since is not None or self.terminated else "",
            ready=ready, started=started,
        )


def terminated_from_api(state: p.ContainerState) -> Terminated | None:
    t = state.terminated
    if t is None:
        return None
    return Terminated(t.exit_code, t.reason or "", None, None, t.container_id or "", t.message or "")


def seed_from_status(track: ContainerTrack, old: p.ContainerStatus | None) -> None:
    """Continue from the status a previous kubelet wrote (restart counts survive restarts).

    A container the old status shows running died with that kubelet (the process
    runtime cannot keep containers across kubelet restarts): it counts as exited.
    """
    if old is None:
        return
    track.last_terminated = terminated_from_api(old.last_state)
    if old.state.running is not None:
        track.instances = old.restart_count + 1
        track.terminated = Terminated(
            137, "Error", None, None, old.container_id or "", "lost when the kubelet restarted"
        )
    elif old.state.terminated is not None:
        track.instances = old.restart_count + 1
        track.terminated = terminated_from_api(old.state)
    elif track.last_terminated is not None:
        track.instances = old.restart_count + 1

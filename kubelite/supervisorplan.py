"""What the supervisor does when one of its components exits: the pure decision.

Why pure: back-off, its reset after a healthy run and crash-loop detection are the
parts of a supervisor that are easy to get subtly wrong and slow to test with real
processes; here they take a state, an event and the time and return the next state,
so a table test with a fake clock pins them down. `kubelite.supervisor` only executes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

INITIAL_BACKOFF = 1.0  # seconds before the first restart
MAX_BACKOFF = 30.0  # the doubling stops here
HEALTHY_RESET = 60.0  # a run this long forgets earlier failures (back-off starts over)
CRASH_WINDOW = 120.0  # restarts counted for crash-loop detection are those in this window...
CRASH_LIMIT = 5  # ...and more than this many is a crash loop

# Component states as `kubelite status` shows them.
STARTING = "Starting"
RUNNING = "Running"
BACKOFF = "BackOff"
CRASHLOOP = "CrashLoop"
STOPPED = "Stopped"  # stopped on request (`kill`/`stop` through the supervisor): not restarted


@dataclass(frozen=True)
class ComponentState:
    """The supervisor's memory of one component (what `supervisor.json` records)."""

    state: str = STARTING
    restarts: int = 0
    backoff: float = 0.0  # the delay used for the last restart (0: none yet)
    started_at: float | None = None
    recent_exits: tuple[float, ...] = ()
    last_exit: str = ""  # "exit code 1" / "signal 9 (SIGKILL)"
    last_exit_at: float | None = None
    restart_at: float | None = None  # when a pending restart is due


@dataclass(frozen=True)
class Started:
    """The component's process was (re)started."""


@dataclass(frozen=True)
class Exited:
    """The process ended; `reason` is how (exit code or signal), for the user."""

    reason: str


@dataclass(frozen=True)
class StopRequested:
    """A user or test asked for the component to stay down (it is not restarted)."""


@dataclass(frozen=True)
class RestartRequested:
    """`kubelite restart`: start it now, whatever the back-off says."""


Event = Started | Exited | StopRequested | RestartRequested


def restart_plan(state: ComponentState, event: Event, now: float) -> ComponentState:
    """The component's next state; a due restart is `restart_at` (the executor starts it then)."""
    if isinstance(event, Started):
        return replace(state, state=RUNNING, started_at=now, restart_at=None)
    if isinstance(event, StopRequested):
        return replace(state, state=STOPPED, restart_at=None)
    if isinstance(event, RestartRequested):
        return replace(state, state=STARTING, restart_at=now)
    # Exited
    exited = replace(state, last_exit=event.reason, last_exit_at=now, started_at=None)
    if state.state == STOPPED:
        return exited
    healthy_long = state.started_at is not None and now - state.started_at >= HEALTHY_RESET
    backoff = INITIAL_BACKOFF if healthy_long or state.backoff == 0 else min(state.backoff * 2, MAX_BACKOFF)
    recent = tuple(t for t in state.recent_exits if now - t < CRASH_WINDOW) + (now,)
    return replace(exited, state=CRASHLOOP if len(recent) > CRASH_LIMIT else BACKOFF, backoff=backoff,
                   recent_exits=recent, restarts=state.restarts + 1, restart_at=now + backoff)


def due(state: ComponentState, now: float) -> bool:
    """Whether the executor should start the component now."""
    return state.restart_at is not None and now >= state.restart_at and state.state != STOPPED

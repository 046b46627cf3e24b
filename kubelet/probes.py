"""Liveness, readiness and startup probes of one running container instance.

Why one task group per container instance: a probe's counters and timing
belong to one process — when the container is restarted, its successor starts
again from "not started, not ready" with fresh counters (as in Kubernetes).
The pod worker creates a `ContainerProbes` when it starts an instance and stops
it when the instance ends; results flow back through callbacks that only wake
the worker (status) or ask it to kill the container (liveness/startup failure).

Kubernetes' rules: the startup probe, when present, runs first and gates the
other two; initialDelaySeconds counts from the container's start; a result
flips only after successThreshold consecutive successes / failureThreshold
consecutive failures; a container without a readiness probe is ready as soon
as it has started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubelet.runtime import Runtime, RuntimeFailure
from kubelite.api import Container
from kubelite.api.base import IntOrString
from kubelite.api.container import Probe

log = logging.getLogger(__name__)

DEFAULT_PERIOD = 10
DEFAULT_TIMEOUT = 1
DEFAULT_FAILURES = 3
MAX_BODY = 10 * 1024

EventSink = Callable[[str, str, str], None]
"""(type, reason, message) -> a pod Event."""
KillRequest = Callable[[str, str], None]
"""(probe kind, message): the container must be killed and restarted per restartPolicy."""


@dataclass(frozen=True)
class ProbeOutcome:
    ok: bool
    message: str = ""


def _port(port: IntOrString, container: Container) -> int:
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for p in container.ports:
        if p.name == port:
            return p.container_port
    raise ValueError(f"port {port!r} is not a named port of container {container.name!r}")


async def http_get(host: str, port: int, path: str, scheme: str, headers: list[tuple[str, str]],
                   timeout: float) -> ProbeOutcome:
    """Kubernetes' httpGet: 200 <= status < 400 is success; redirects are not followed."""
    ctx: ssl.SSLContext | None = None
    if scheme.upper() == "HTTPS":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # Kubernetes does not verify probe certificates either
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            names = {k.lower() for k, _ in headers}
            lines = [f"GET {path or '/'} HTTP/1.1"]
            if "host" not in names:
                lines.append(f"Host: {host}:{port}")
            if "user-agent" not in names:
                lines.append("User-Agent: kube-probe/kubelite")
            if "accept" not in names:
                lines.append("Accept: */*")
            lines += [f"{k}: {v}" for k, v in headers] + ["Connection: close", "", ""]
            writer.write("\r\n".join(lines).encode())
            await writer.drain()
            status_line = await reader.readline()
    except TimeoutError:
        return ProbeOutcome(False, f'Get "{scheme.lower()}://{host}:{port}{path}": context deadline exceeded')
    except OSError as exc:
        return ProbeOutcome(False, f'Get "{scheme.lower()}://{host}:{port}{path}": {exc.strerror or exc}')
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    parts = status_line.decode(errors="replace").split()
    if len(parts) < 2 or not parts[1].isdigit():
        return ProbeOutcome(False, f"malformed HTTP response: {status_line[:80]!r}")
    code = int(parts[1])
    if 200 <= code < 400:
        return ProbeOutcome(True)
    return ProbeOutcome(False, f"HTTP probe failed with statuscode: {code}")


async def tcp_socket(host: str, port: int, timeout: float) -> ProbeOutcome:
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return ProbeOutcome(False, f"dial tcp {host}:{port}: i/o timeout")
    except OSError as exc:
        return ProbeOutcome(False, f"dial tcp {host}:{port}: {exc.strerror or exc}")
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return ProbeOutcome(True)


async def run_probe(
    probe: Probe, runtime: Runtime, container_id: str, container: Container, host: str
) -> ProbeOutcome:
    """One attempt of `probe` against a running container."""
    timeout = float(probe.timeout_seconds or DEFAULT_TIMEOUT)
    try:
        if probe.exec is not None:
            try:
                result = await runtime.exec_sync(container_id, list(probe.exec.command), timeout)
            except TimeoutError:
                return ProbeOutcome(False, f"command {probe.exec.command!r} timed out")
            if result.exit_code == 0:
                return ProbeOutcome(True)
            out = (result.stdout + result.stderr).decode(errors="replace").strip()[:MAX_BODY]
            return ProbeOutcome(False, out or f"command {probe.exec.command!r} exited with {result.exit_code}")
        if probe.http_get is not None:
            hg = probe.http_get
            return await http_get(hg.host or host, _port(hg.port, container), hg.path or "/", hg.scheme or "HTTP",
                                  [(h.name, h.value) for h in hg.http_headers], timeout)
        if probe.tcp_socket is not None:
            ts = probe.tcp_socket
            return await tcp_socket(ts.host or host, _port(ts.port, container), timeout)
    except (RuntimeFailure, ValueError) as exc:
        return ProbeOutcome(False, str(exc))
    if probe.grpc is not None:
        return ProbeOutcome(False, "grpc probes are not supported by this kubelet")
    return ProbeOutcome(False, "probe has no handler (exec, httpGet or tcpSocket)")


class ContainerProbes:
    """The probes of one container instance (see module doc)."""

    def __init__(
        self, runtime: Runtime, container_id: str, container: Container, host: str,
        on_change: Callable[[], None], on_event: EventSink, on_kill: KillRequest,
        started_at: float | None = None,
    ) -> None:
        self.runtime = runtime
        self.container_id = container_id
        self.container = container
        self.host = host
        self._on_change = on_change
        self._on_event = on_event
        self._on_kill = on_kill
        self.started_at = started_at if started_at is not None else time.time()
        self.started = container.startup_probe is None
        self.ready = False
        self.killed = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def has_probes(self) -> bool:
        c = self.container
        return any(p is not None for p in (c.startup_probe, c.liveness_probe, c.readiness_probe))

    def is_ready(self) -> bool:
        """Ready per the readiness probe; without one, ready once started."""
        if self.container.readiness_probe is None:
            return self.started
        return self.started and self.ready

    def start(self) -> None:
        if self.has_probes:
            self._tasks.append(asyncio.create_task(self._run(), name=f"probes {self.container.name}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        c = self.container
        if c.startup_probe is not None:
            if not await self._loop("Startup", c.startup_probe):
                return
            self.started = True
            self._on_change()
        loops = [self._loop(kind, p) for kind, p in (("Liveness", c.liveness_probe), ("Readiness", c.readiness_probe))
                 if p is not None]
        await asyncio.gather(*loops)

    async def _loop(self, kind: str, probe: Probe) -> bool:
        """Probe until the container must die (False) or, for Startup, until it passes (True)."""
        period = max(1, probe.period_seconds or DEFAULT_PERIOD)
        need_ok = 1 if kind != "Readiness" else max(1, probe.success_threshold or 1)
        need_fail = max(1, probe.failure_threshold or DEFAULT_FAILURES)
        first = self.started_at + (probe.initial_delay_seconds or 0)
        delay = first - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        oks = fails = 0
        while True:
            begin = time.monotonic()
            outcome = await run_probe(probe, self.runtime, self.container_id, self.container, self.host)
            if outcome.ok:
                oks, fails = oks + 1, 0
                if kind == "Startup":
                    return True
                if kind == "Readiness" and oks >= need_ok and not self.ready:
                    self.ready = True
                    self._on_change()
            else:
                oks, fails = 0, fails + 1
                self._on_event("Warning", "Unhealthy", f"{kind} probe failed: {outcome.message}")
                if fails >= need_fail:
                    if kind == "Readiness":
                        if self.ready:
                            self.ready = False
                            self._on_change()
                    else:
                        self.killed = True
                        self._on_kill(kind, outcome.message)
                        return False
            elapsed = time.monotonic() - begin
            await asyncio.sleep(max(0.0, period - elapsed))

"""The HTTP endpoint every daemon serves: `/healthz`, `/readyz`, `/metrics`.

Why a tiny asyncio server instead of a framework: three GET routes, no
dependencies, and it lives on the daemon's own event loop so a wedged loop
shows up as a failing health check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kubelite.daemon.metrics import Metrics

log = logging.getLogger(__name__)

Check = Callable[[], str | None]
"""A health check returns None when healthy, or a short reason when not."""


class HealthServer:
    """Serves `/healthz` (alive), `/readyz` (all checks pass) and `/metrics`."""

    def __init__(self, host: str, port: int, metrics: Metrics | None = None) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics or Metrics()
        self._checks: dict[str, Check] = {}
        self._server: asyncio.Server | None = None

    def add_check(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def failing(self) -> dict[str, str]:
        failures: dict[str, str] = {}
        for name, check in self._checks.items():
            try:
                reason = check()
            except Exception as exc:  # a broken check is an unhealthy daemon, not a crash
                reason = f"check raised {exc!r}"
            if reason:
                failures[name] = reason
        return failures

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("health endpoint listening", extra={"addr": f"{self.host}:{self.port}"})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else "/"
            status, body, ctype = self._route(path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _route(self, path: str) -> tuple[str, bytes, str]:
        if path in ("/healthz", "/livez"):
            return "200 OK", b"ok\n", "text/plain"
        if path == "/readyz":
            failures = self.failing()
            if failures:
                text = "".join(f"[-] {k}: {v}\n" for k, v in sorted(failures.items()))
                return "503 Service Unavailable", text.encode(), "text/plain"
            return "200 OK", b"ok\n", "text/plain"
        if path == "/metrics":
            return "200 OK", self.metrics.render().encode(), "text/plain; version=0.0.4"
        return "404 Not Found", b"not found\n", "text/plain"

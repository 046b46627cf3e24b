"""The kubelet's own gRPC API (`kubelite.v1.Kubelet`): container logs and exec.

Why the kubelet serves logs itself: the log files live on the node; the
apiserver proxies `Logs` here (to the Node's InternalIP and kubelet port),
exactly like `kubectl logs` goes through the apiserver to the kubelet. Logs
are read from the CRI files, so this works for every runtime. `Exec` is a
bidirectional stream: the first request says what to run, the following ones
carry stdin; output chunks flow back, then one message with the exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import grpc
import grpc.aio

from kubelet import layout, portforward
from kubelet.attach import AttachBackend, attach
from kubelet.crilog import parse_line, timestamp_ns
from kubelet.portforward import PortForwardBackend
from kubelet.runtime import ExecSession
from kubelet.stats import StatsCollector
from kubelite.api.errors import ApiError, BadRequest, Forbidden, NotFound
from kubelite.api.timeutil import parse_time
from kubelite.daemon.grpcregister import add_service
from kubelite.daemon.tls import bind, peer_identity
from kubelite.pb.kubelite import api_pb2, api_pb2_grpc
from kubelite.wire import LOG_ACCEPTED_KEY

log = logging.getLogger(__name__)

FOLLOW_POLL_SECONDS = 0.1
CHUNK = 64 * 1024
STATUS_METADATA_KEY = "kubelite-status-bin"
_GRPC_CODES = {
    401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND, 400: grpc.StatusCode.INVALID_ARGUMENT, 409: grpc.StatusCode.ABORTED,
    500: grpc.StatusCode.INTERNAL, 503: grpc.StatusCode.UNAVAILABLE,
}

API_USERS = frozenset({"apiserver-kubelet-client"})
"""Who may use this API when clients must present certificates: the apiserver's kubelet client
(like the kubelet's authorization of `nodes/proxy`, `nodes/log`, `pods/exec`)."""

ActiveCheck = Callable[[Path], Awaitable[bool]]
"""Is a running container still writing this log file? (`follow` stops when not.)"""


class ExecBackend(Protocol):
    """Finds the running container and starts the command (PodWorkers.open_exec)."""

    async def open_exec(
        self, namespace: str, name: str, uid: str, container: str, command: list[str], tty: bool
    ) -> ExecSession: ...


def render(line: bytes, timestamps: bool, since: int = 0) -> bytes:
    """The user-visible bytes of one CRI line; b"" for an entry logged before `since` (ns)."""
    entry = parse_line(line)
    if entry is None:  # not CRI: pass through as it is
        return line + b"\n"
    if since and (timestamp_ns(entry.timestamp) or 0) < since:
        return b""
    return entry.render(timestamps)


def since_ns(request: api_pb2.LogsRequest) -> int:
    """`since_time` in ns since the epoch (0: none); a bad value is a BadRequest naming the field."""
    if not request.since_time:
        return 0
    try:
        when = parse_time(request.since_time)
    except ValueError:
        raise BadRequest(f'sinceTime: invalid RFC 3339 time "{request.since_time}"') from None
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def tail_offset(f: BinaryIO, lines: int) -> int:
    """The file offset where the last `lines` lines start."""
    end = f.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
    pos, newlines = end, 0
    # A final newline ends the last line; it does not start another one.
    f.seek(max(end - 1, 0))
    skip_last = f.read(1) == b"\n"
    while pos > 0:
        step = min(CHUNK, pos)
        pos -= step
        f.seek(pos)
        block = f.read(step)
        if skip_last and pos + step == end:
            block = block[:-1]
        idx = len(block)
        while True:
            idx = block.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            newlines += 1
            if newlines == lines:
                return pos + idx + 1
    return 0


async def stream_log(
    path: Path, tail_lines: int | None, timestamps: bool, follow: bool, active: ActiveCheck,
    since: int = 0, limit_bytes: int = 0,
) -> AsyncIterator[bytes]:
    """The user-visible bytes of a CRI log file, optionally following it; only entries
    from `since` on, at most `limit_bytes` (0: no limit)."""
    left = limit_bytes or -1
    with open(path, "rb") as f:
        if tail_lines is not None:
            f.seek(tail_offset(f, tail_lines))
        pending = b""
        finishing = False
        while True:
            chunk = f.read(CHUNK)
            if chunk:
                pending += chunk
                lines = pending.split(b"\n")
                pending = lines.pop()
                out = b"".join(render(line, timestamps, since) for line in lines)
                if out and left >= 0:
                    out, left = out[:left], left - len(out[:left])
                if out:
                    yield out
                if left == 0:
                    return
                continue
            if not follow or finishing:
                break
            if not await active(path):
                finishing = True  # read what was written up to the exit, then stop
                continue
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
        if pending:
            out = render(pending, timestamps, since)
            yield out[:left] if left >= 0 else out


def resolve_log(data_dir: Path, request: api_pb2.LogsRequest) -> Path:
    """The CRI log file a Logs request refers to; ApiError with a clear message if none."""
    ns, name = request.namespace or "default", request.name
    pod_dir = layout.find_pod_log_dir(data_dir, ns, name, request.pod_uid)
    if pod_dir is None:
        raise NotFound(f'pod "{name}" in namespace "{ns}" has no containers on this node (not started yet?)')
    containers = sorted(p.name for p in pod_dir.iterdir() if p.is_dir())
    container = request.container
    if not container:
        if len(containers) != 1:
            raise BadRequest(
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
            )
        container = containers[0]
    if container not in containers:
        raise BadRequest(f"container {container} is not valid for pod {name}")
    attempts = layout.log_attempts(pod_dir / container)
    if request.previous:
        if len(attempts) < 2:
            raise BadRequest(f'previous terminated container "{container}" in pod "{name}" not found')
        return pod_dir / container / f"{attempts[-2]}.log"
    if not attempts:
        raise BadRequest(f'container "{container}" in pod "{name}" is waiting to start')
    return pod_dir / container / f"{attempts[-1]}.log"


async def _abort(context: grpc.aio.ServicerContext[Any, Any], err: ApiError) -> None:
    code = _GRPC_CODES.get(err.code, grpc.StatusCode.UNKNOWN)
    await context.abort(
        code, err.message, trailing_metadata=((STATUS_METADATA_KEY, json.dumps(err.to_status()).encode()),)
    )


async def _pump_stdin(requests: AsyncIterator[api_pb2.ExecRequest], session: ExecSession) -> None:
    """Client stdin -> the command; the end of the client's stream closes the command's stdin."""
    try:
        async for request in requests:
            if request.width and request.height:
                session.resize(request.width, request.height)
            if request.stdin:
                await session.write_stdin(request.stdin)
            if request.close_stdin:
                break
    finally:
        await session.close_stdin()


def unauthorized(message: str) -> ApiError:
    return ApiError.from_status({"reason": "Unauthorized", "code": 401, "message": message})


class KubeletService(api_pb2_grpc.KubeletServicer):
    """Logs and Exec; with `allowed_users`, only callers whose verified certificate CN is one of them."""

    def __init__(self, data_dir: Path, active: ActiveCheck, exec_backend: ExecBackend | None = None,
                 allowed_users: frozenset[str] | None = None, stats: StatsCollector | None = None) -> None:
        self.data_dir = data_dir
        self.stats = stats
        self.active = active
        self.exec_backend = exec_backend
        self.allowed_users = allowed_users

    def refusal(self, context: grpc.aio.ServicerContext[Any, Any], what: str) -> ApiError | None:
        """Why this caller may not `what` (None: it may). Exec runs commands in containers and
        logs may hold secrets, so only the apiserver's identity is accepted."""
        if self.allowed_users is None:
            return None
        who = peer_identity(context)
        if who is None:
            return unauthorized(f"{what}: a client certificate is required")
        if who.user not in self.allowed_users:
            return Forbidden(f'user "{who.user}" may not {what} on this kubelet')
        return None

    async def Exec(
        self, request_iterator: AsyncIterator[api_pb2.ExecRequest], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[api_pb2.ExecResponse]:
        refused = self.refusal(context, "exec")
        if refused is not None:
            await _abort(context, refused)
            return
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("start") or not list(first.start.command):
            await _abort(context, BadRequest("exec: the first message must carry `start` with a command"))
            return
        if self.exec_backend is None:
            await _abort(context, BadRequest("exec is not supported by this kubelet"))
            return
        start = first.start
        try:
            session = await self.exec_backend.open_exec(
                start.namespace or "default", start.name, start.pod_uid, start.container, list(start.command),
                start.tty,
            )
        except ApiError as err:
            await _abort(context, err)
            return
        log.info("exec", extra={"pod": f"{start.namespace}/{start.name}", "container": start.container,
                                "command": list(start.command)[:1]})
        if start.stdin:
            stdin: asyncio.Task[None] | None = asyncio.create_task(_pump_stdin(request_iterator, session))
        else:
            stdin = None
            await session.close_stdin()
        finished = False
        try:
            async for fd, data in session.output():
                yield api_pb2.ExecResponse(stderr=data) if fd == 2 else api_pb2.ExecResponse(stdout=data)
            code = await session.wait()
            finished = True
            yield api_pb2.ExecResponse(exited=True, exit_code=code)
        finally:
            if stdin is not None:
                stdin.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await stdin
            if not finished:
                with contextlib.suppress(Exception):
                    await session.kill()

    async def PortForward(
        self, request_iterator: AsyncIterator[api_pb2.PortForwardRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[api_pb2.PortForwardResponse]:
        refused = self.refusal(context, "forward ports")
        if refused is None and not isinstance(self.exec_backend, PortForwardBackend):
            refused = BadRequest("port forwarding is not supported by this kubelet")
        first = await anext(aiter(request_iterator), None) if refused is None else None
        if refused is None and (first is None or not first.HasField("start")):
            refused = BadRequest("port-forward: the first message must carry `start` (pod and port)")
        if refused is not None or first is None or not isinstance(self.exec_backend, PortForwardBackend):
            await _abort(context, refused or BadRequest("port-forward: no request"))
            return
        try:
            async for response in portforward.forward(self.exec_backend, first, request_iterator):
                yield response
        except ApiError as err:
            await _abort(context, err)

    async def Attach(
        self, request_iterator: AsyncIterator[api_pb2.ExecRequest], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[api_pb2.ExecResponse]:
        refused = self.refusal(context, "attach")
        first = await anext(aiter(request_iterator), None) if refused is None else None
        if refused is None and (first is None or not first.HasField("start")):
            refused = BadRequest("attach: the first message must carry `start` (pod and container)")
        if refused is None and not isinstance(self.exec_backend, AttachBackend):
            refused = BadRequest("attach is not supported by this kubelet")
        if refused is not None or first is None or not isinstance(self.exec_backend, AttachBackend):
            await _abort(context, refused or BadRequest("attach: no request"))
            return
        try:
            async for response in attach(self.exec_backend, first.start):
                yield response
        except ApiError as err:
            await _abort(context, err)

    async def Stats(
        self, request: api_pb2.StatsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> api_pb2.StatsResponse:
        """Usage of the node, pods and containers now (the metrics server scrapes this)."""
        refused = self.refusal(context, "read stats")
        if refused is None and self.stats is None:
            refused = BadRequest("stats are not supported by this kubelet")
        if refused is not None or self.stats is None:
            await _abort(context, refused or BadRequest("stats: unavailable"))
            raise AssertionError("unreachable: abort raises")
        try:
            return self.stats.sample()
        except (OSError, ValueError) as exc:
            await _abort(context, ApiError.from_status(
                {"reason": "InternalError", "code": 500, "message": f"cannot read usage: {exc}"}))
            raise AssertionError("unreachable: abort raises") from exc

    async def Logs(
        self, request: api_pb2.LogsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[api_pb2.LogChunk]:
        refused = self.refusal(context, "read logs")
        if refused is not None:
            await _abort(context, refused)
            return
        try:
            path = resolve_log(self.data_dir, request)
            since = since_ns(request)
        except ApiError as err:
            await _abort(context, err)
            return
        # Tells the apiserver the request was accepted before any output exists (logs -f of a quiet
        # container), so it can answer 200 now and refusals still become a Status.
        await context.send_initial_metadata(((LOG_ACCEPTED_KEY, "1"),))
        tail = request.tail_lines if request.HasField("tail_lines") else None
        try:
            async for data in stream_log(path, tail, request.timestamps, request.follow, self.active, since,
                                         request.limit_bytes):
                yield api_pb2.LogChunk(data=data)
        except FileNotFoundError:
            return  # the pod was removed while we were reading


class KubeletServer:
    """grpc.aio server for `kubelite.v1.Kubelet` on `listen` ("IP:PORT", port 0 = any).

    With `credentials` it serves TLS; credentials that require client certificates
    (`--client-ca-file`) also restrict the API to `API_USERS`.
    """

    def __init__(
        self, listen: str, data_dir: Path, active: ActiveCheck, exec_backend: ExecBackend | None = None,
        credentials: grpc.ServerCredentials | None = None, allowed_users: frozenset[str] | None = None,
        stats: StatsCollector | None = None,
    ) -> None:
        self.listen = listen
        self.credentials = credentials
        self.service = KubeletService(data_dir, active, exec_backend, allowed_users, stats)
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        server = grpc.aio.server()
        add_service(api_pb2_grpc.add_KubeletServicer_to_server, self.service, server)
        port = bind(server, self.listen, self.credentials)
        if port == 0:
            await server.stop(None)
            raise OSError(f"cannot listen on {self.listen} (address in use or not on this host?)")
        await server.start()
        self._server = server
        self.port = port
        log.info("kubelet API listening", extra={"addr": self.listen, "port": port,
                                                 "tls": self.credentials is not None})

    async def stop(self, grace: float = 1.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

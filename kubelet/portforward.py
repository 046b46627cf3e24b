"""Port forwarding: one TCP connection to `localhost:PORT` inside a pod's network namespace.

Why `localhost` in the pod's namespace (not the pod IP from the node): that is what
Kubernetes forwards to, so a server bound to 127.0.0.1 in the pod is reachable too, and it
works for pods without a routable IP. A socket belongs to the network namespace it was
created in, so only its creation happens in the pod's namespace (`setns` in a short-lived
thread of its own, which never serves anything else); connecting and relaying are ordinary
asyncio on the kubelet's loop. A pod sharing the host network (or the process runtime)
has no namespace: then the connection is made from the kubelet's own.

The gRPC face is `kubelite.v1.Kubelet/PortForward`: the first request names pod and port,
the following ones carry bytes to send (and `close_write` for a half-close); responses
carry the bytes the pod sent back, until it closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from kubelite.api.errors import ApiError, BadRequest
from kubelite.pb.kubelite import api_pb2

log = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
READ_CHUNK = 32 * 1024
CONNECT_TIMEOUT = 10.0


@runtime_checkable
class PortForwardBackend(Protocol):
    """Finds a running pod's network namespace (PodWorkers.pod_netns); "" = the kubelet's own."""

    async def pod_netns(self, namespace: str, name: str, uid: str) -> str: ...


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def socket_in_netns(netns_path: str) -> socket.socket:
    """A TCP socket created inside the network namespace at `netns_path` ("" = this one)."""
    if not netns_path:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    result: list[socket.socket | BaseException] = []

    def create() -> None:
        # A fresh thread: if switching back failed, only this thread (about to end) is affected.
        try:
            with open("/proc/thread-self/ns/net", "rb") as home, open(netns_path, "rb") as target:
                _setns(target.fileno())
                try:
                    result.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                finally:
                    _setns(home.fileno())
        except BaseException as exc:  # handed to the caller
            result.append(exc)

    thread = threading.Thread(target=create, name="portforward-netns", daemon=True)
    thread.start()
    thread.join()
    made = result[0] if result else OSError("creating a socket in the pod's network namespace failed")
    if isinstance(made, BaseException):
        raise made
    return made


async def connect(netns_path: str, port: int, pod: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to localhost:`port` in the pod's namespace; a refusal is an ApiError naming pod and port."""
    try:
        sock = await asyncio.to_thread(socket_in_netns, netns_path)
    except OSError as exc:
        raise ApiError.from_status({"reason": "InternalError", "code": 500, "message": (
            f"error forwarding port {port} to pod {pod}: cannot enter its network namespace: {exc}")}) from None
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), CONNECT_TIMEOUT)
        return await asyncio.open_connection(sock=sock)
    except (OSError, TimeoutError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ApiError.from_status({"reason": "InternalError", "code": 500, "message": (
            f"error forwarding port {port} to pod {pod}: failed to connect to localhost:{port} "
            f"inside the pod's network namespace: {reason}")}) from None


async def _pump_in(requests: AsyncIterator[api_pb2.PortForwardRequest], writer: asyncio.StreamWriter) -> None:
    """Client bytes -> the connection; `close_write` or the end of the client's stream half-closes it."""
    try:
        async for request in requests:
            if request.data:
                writer.write(request.data)
                await writer.drain()
            if request.close_write:
                break
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def forward(backend: PortForwardBackend, first: api_pb2.PortForwardRequest,
                  requests: AsyncIterator[api_pb2.PortForwardRequest]) -> AsyncIterator[api_pb2.PortForwardResponse]:
    """Serve one PortForward call whose first request was `first` (ApiError when refused)."""
    start = first.start
    if not 0 < start.port < 65536:
        raise BadRequest(f"port-forward: port {start.port} is not between 1 and 65535")
    pod = f"{start.namespace or 'default'}/{start.name}"
    netns = await backend.pod_netns(start.namespace or "default", start.name, start.pod_uid)
    reader, writer = await connect(netns, start.port, pod)
    log.info("port-forward", extra={"pod": pod, "port": start.port})
    if first.data:
        writer.write(first.data)
    pump = asyncio.create_task(_pump_in(requests, writer))
    try:
        while chunk := await reader.read(READ_CHUNK):
            yield api_pb2.PortForwardResponse(data=chunk)
    except OSError:
        pass  # reset by the pod's side: the connection is over
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
